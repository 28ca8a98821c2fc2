import assert from 'node:assert/strict';
import { propagatorFromEnv, resourceDetectorsFromEnv } from '../../src/telemetry/sdk.js';

describe('telemetry: propagators and resource detectors from the OTEL_* environment (the SDK built from its pieces)', () => {
  const propagatorCases: Array<{ env: NodeJS.ProcessEnv; fields: string[]; warnings: number }> = [
    { env: {}, fields: ['traceparent', 'tracestate', 'baggage'], warnings: 0 },
    { env: { OTEL_PROPAGATORS: 'tracecontext' }, fields: ['traceparent', 'tracestate'], warnings: 0 },
    { env: { OTEL_PROPAGATORS: ' baggage , tracecontext,baggage' }, fields: ['baggage', 'traceparent', 'tracestate'], warnings: 0 },
    { env: { OTEL_PROPAGATORS: 'none' }, fields: [], warnings: 0 },
    { env: { OTEL_PROPAGATORS: 'tracecontext,b3' }, fields: ['traceparent', 'tracestate'], warnings: 1 },
  ];
  for (const c of propagatorCases) {
    it(`OTEL_PROPAGATORS=${JSON.stringify(c.env['OTEL_PROPAGATORS'] ?? '(unset)')} propagates ${c.fields.join(', ') || 'nothing'}`, () => {
      const warnings: string[] = [];
      assert.deepEqual(propagatorFromEnv(c.env, warnings).fields(), c.fields);
      assert.equal(warnings.length, c.warnings, warnings.join('; '));
    });
  }

  const detectorCases: Array<{ value?: string; count: number; warnings: number }> = [
    { count: 0, warnings: 0 },
    { value: 'none', count: 0, warnings: 0 },
    { value: 'all', count: 5, warnings: 0 },
    { value: 'env,host,os,process', count: 4, warnings: 0 },
    { value: 'host,gcp', count: 1, warnings: 1 },
  ];
  for (const c of detectorCases) {
    it(`OTEL_NODE_RESOURCE_DETECTORS=${c.value ?? '(unset)'} adds ${c.count} detector(s)`, () => {
      const warnings: string[] = [];
      assert.equal(resourceDetectorsFromEnv(c.value === undefined ? {} : { OTEL_NODE_RESOURCE_DETECTORS: c.value }, warnings).length, c.count);
      assert.equal(warnings.length, c.warnings);
    });
  }
});
