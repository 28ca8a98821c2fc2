import { strict as assert } from 'node:assert';
import type { Attributes, Counter } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type CollectionResult } from '@opentelemetry/sdk-metrics';
import { NodeEvents } from '../../src/app/node-events.js';
import { BoundCallRecorder, VerdictTally } from '../../src/telemetry/bound-recorders.js';
import { RpcDurationTable, withRpcDurations } from '../../src/telemetry/rpc-duration.js';
import { METRIC, NodeMetrics, type TelemetryTarget } from '../../src/telemetry/metrics.js';

/** A reader collected by hand. */
class HandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** Sum of a metric's data points whose attributes include `match`. */
function sumOf(r: CollectionResult, name: string, match: Attributes): number {
  let sum = 0;
  for (const sm of r.resourceMetrics.scopeMetrics) {
    for (const m of sm.metrics) {
      if (m.descriptor.name !== name) continue;
      for (const dp of m.dataPoints as Array<{ attributes: Attributes; value: number | { count: number } }>) {
        if (!Object.entries(match).every(([k, v]) => dp.attributes[k] === v)) continue;
        sum += typeof dp.value === 'number' ? dp.value : dp.value.count;
      }
    }
  }
  return sum;
}

/** A node as NodeMetrics reads it, with nothing in it. */
function target(events: NodeEvents): TelemetryTarget {
  return {
    events,
    etcd: { instrument: () => {} },
    cache: { values: () => [] },
    service: { stats: { cacheHits: 0, cacheMisses: 0 } },
    feed: { stalenessMs: () => 0, stats: { relists: 0, reconnects: 0, eventsApplied: 0 } },
    touches: { stats: { coalesced: 0, written: 0, failed: 0 } },
  };
}

describe('telemetry: pre-bound recorders (issue 12)', () => {
  it('BoundCallRecorder keeps one accumulator per (method, code, reason), with its attribute set', () => {
    const rec = new BoundCallRecorder(new RpcDurationTable({ name: 't' }));
    rec.record('ValidateSession', 0, 2, undefined);
    rec.record('ValidateSession', 0, 4, undefined);
    rec.record('ValidateSession', 5, 1, 'SESSION_NOT_FOUND');
    rec.record('ValidateSession', 5, 1, 'SESSION_NOT_FOUND');
    rec.record('ValidateSession', 13, 1, 'not a reason');
    const ok = rec.accumulator('ValidateSession', 0, undefined);
    const notFound = rec.accumulator('ValidateSession', 5, 'SESSION_NOT_FOUND');
    const other = rec.accumulator('ValidateSession', 13, 'not a reason');
    assert.deepEqual([ok.count, ok.sum], [2, 0.006]);
    assert.deepEqual([notFound.count, notFound.sum], [2, 0.002]);
    assert.equal(other.count, 1);
    assert.deepEqual(ok.attributes, { 'rpc.method': 'ValidateSession', 'rpc.grpc.status_code': 0 });
    assert.deepEqual(notFound.attributes, { 'rpc.method': 'ValidateSession', 'rpc.grpc.status_code': 5, 'error.type': 'SESSION_NOT_FOUND' });
    assert.deepEqual(other.attributes, { 'rpc.method': 'ValidateSession', 'rpc.grpc.status_code': 13, 'error.type': 'other' });
  });

  it('VerdictTally adds nothing until flushed, then one add per verdict seen', () => {
    const adds: Array<[number, Attributes | undefined]> = [];
    let open = false;
    const counter = {
      add: (n: number, a?: Attributes) => {
        if (!open) throw new Error('counter used outside flush');
        adds.push([n, a]);
      },
    } as Counter;
    const tally = new VerdictTally(counter);
    for (let i = 0; i < 5; i++) tally.add('VALID');
    tally.add('NOT_FOUND');
    open = true;
    tally.flush();
    assert.deepEqual(adds, [[5, { verdict: 'VALID' }], [1, { verdict: 'NOT_FOUND' }]]);
    tally.flush();
    assert.equal(adds.length, 2);
  });

  it('NodeMetrics counts verdicts and calls the same as one add/record per event, across collections and detach', async () => {
    const reader = withRpcDurations(new HandReader());
    const provider = new MeterProvider({ readers: [reader] });
    const events = new NodeEvents();
    const detach = new NodeMetrics(provider.getMeter('t')).attach(target(events));
    for (let i = 0; i < 7; i++) events.emit('verdict', 'VALID');
    for (let i = 0; i < 3; i++) events.emit('verdict', 'NOT_FOUND');
    for (let i = 0; i < 10; i++) events.emit('call', 'ValidateSession', 0, 1, undefined);
    events.emit('call', 'ValidateSession', 5, 1, 'SESSION_NOT_FOUND');
    let r = await reader.collect();
    assert.equal(sumOf(r, METRIC.verdicts, { verdict: 'VALID' }), 7);
    assert.equal(sumOf(r, METRIC.verdicts, { verdict: 'NOT_FOUND' }), 3);
    assert.equal(sumOf(r, METRIC.rpcDuration, { 'rpc.grpc.status_code': 0 }), 10);
    assert.equal(sumOf(r, METRIC.rpcDuration, { 'rpc.grpc.status_code': 5, 'error.type': 'SESSION_NOT_FOUND' }), 1);
    // Cumulative across collections.
    events.emit('verdict', 'VALID');
    r = await reader.collect();
    assert.equal(sumOf(r, METRIC.verdicts, { verdict: 'VALID' }), 8);
    // Counted before a detach: still reported.
    events.emit('verdict', 'EXPIRED');
    detach();
    events.emit('verdict', 'EXPIRED');
    r = await reader.collect();
    assert.equal(sumOf(r, METRIC.verdicts, { verdict: 'EXPIRED' }), 1);
    assert.equal(sumOf(r, METRIC.verdicts, { verdict: 'VALID' }), 8);
    await provider.shutdown();
  });
});
