import assert from 'node:assert/strict';
import { BoundedLabel, errorLabel, keyClassLabel, OTHER } from '../../src/telemetry/labels.js';
import { telemetrySettingsFromEnv } from '../../src/telemetry/settings.js';

describe('telemetry: settings from the OTEL_* environment', () => {
  const cases: Array<{ name: string; env: NodeJS.ProcessEnv; traces: string[]; metrics: string[]; disabled?: boolean; warnings?: number }> = [
    { name: 'nothing set: no trace export (no collector, no error spam), Prometheus metrics', env: {}, traces: [], metrics: ['prometheus'] },
    { name: 'an OTLP endpoint turns trace export on', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }, traces: ['otlp'], metrics: ['prometheus'] },
    { name: 'a traces-only endpoint too', env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel:4318/v1/traces' }, traces: ['otlp'], metrics: ['prometheus'] },
    { name: 'OTEL_TRACES_EXPORTER=none wins over an endpoint', env: { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }, traces: [], metrics: ['prometheus'] },
    { name: 'explicit otlp without an endpoint (SDK default localhost:4318)', env: { OTEL_TRACES_EXPORTER: 'otlp' }, traces: ['otlp'], metrics: ['prometheus'] },
    { name: 'lists, case and spaces', env: { OTEL_TRACES_EXPORTER: ' OTLP , console', OTEL_METRICS_EXPORTER: 'otlp,prometheus' }, traces: ['otlp', 'console'], metrics: ['otlp', 'prometheus'] },
    { name: 'OTEL_METRICS_EXPORTER=none', env: { OTEL_METRICS_EXPORTER: 'none' }, traces: [], metrics: [] },
    { name: 'unsupported exporters are dropped with a warning', env: { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_METRICS_EXPORTER: 'statsd' }, traces: [], metrics: [], warnings: 2 },
    { name: 'an unknown OTLP protocol warns and falls back to http/protobuf', env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }, traces: ['otlp'], metrics: ['prometheus'], warnings: 1 },
    { name: 'OTEL_SDK_DISABLED=true', env: { OTEL_SDK_DISABLED: 'TRUE' }, traces: [], metrics: ['prometheus'], disabled: true },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = telemetrySettingsFromEnv(c.env);
      assert.deepEqual(s.traceExporters, c.traces);
      assert.deepEqual(s.metricExporters, c.metrics);
      assert.equal(s.disabled, c.disabled ?? false);
      assert.equal(s.warnings.length, c.warnings ?? 0, s.warnings.join('; '));
    });
  }

  it('Prometheus endpoint: 0.0.0.0:9464/metrics by default; host and port from the environment; a bad port warns', () => {
    assert.deepEqual(telemetrySettingsFromEnv({}).prometheus, { host: '0.0.0.0', port: 9464, endpoint: '/metrics' });
    assert.deepEqual(telemetrySettingsFromEnv({ OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: '9100' }).prometheus, {
      host: '127.0.0.1',
      port: 9100,
      endpoint: '/metrics',
    });
    const bad = telemetrySettingsFromEnv({ OTEL_EXPORTER_PROMETHEUS_PORT: 'http' });
    assert.equal(bad.prometheus.port, 9464);
    assert.equal(bad.warnings.length, 1);
  });

  it('OTLP protocol per signal: http/protobuf by default, grpc when asked, http/json sent as http/protobuf', () => {
    assert.deepEqual(telemetrySettingsFromEnv({}).otlpProtocol, { traces: 'http/protobuf', metrics: 'http/protobuf' });
    assert.deepEqual(telemetrySettingsFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).otlpProtocol, { traces: 'grpc', metrics: 'grpc' });
    assert.deepEqual(
      telemetrySettingsFromEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf' }).otlpProtocol,
      { traces: 'grpc', metrics: 'http/protobuf' },
    );
    const json = telemetrySettingsFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    assert.deepEqual([json.otlpProtocol.traces, json.warnings], ['http/protobuf', []]);
  });

  it('metric export interval and batch span processor settings', () => {
    const s = telemetrySettingsFromEnv({ OTEL_METRIC_EXPORT_INTERVAL: '10000', OTEL_METRIC_EXPORT_TIMEOUT: '20000', OTEL_BSP_SCHEDULE_DELAY: '200' });
    assert.equal(s.metricExportIntervalMs, 10000);
    assert.equal(s.metricExportTimeoutMs, 10000, 'the timeout is clamped to the interval');
    assert.deepEqual(s.batch, { scheduledDelayMillis: 200 });
  });
});

describe('telemetry: labels', () => {
  it('BoundedLabel keeps the first N values and folds the rest into "other"', () => {
    const l = new BoundedLabel(2);
    assert.deepEqual(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => l.of(v)), ['a', 'b', OTHER, 'a', OTHER, 'b']);
  });

  it('key classes become names, and anything that could be a key becomes "other"', () => {
    assert.equal(keyClassLabel('s'), 'session');
    assert.equal(keyClassLabel(''), 'none');
    assert.equal(keyClassLabel('list'), 'list');
    assert.equal(keyClassLabel('/session-manager/s/abc'), OTHER);
    assert.equal(keyClassLabel('q7Hh3-xYzAbcdEfGhIjKlMnOpQrStUvWxYz0123456'), OTHER);
  });

  it('error labels are stable reasons or class names, never messages', () => {
    assert.equal(errorLabel(Object.assign(new Error('store: unavailable: x'), { reason: 'STORE_UNAVAILABLE' })), 'STORE_UNAVAILABLE');
    assert.equal(errorLabel(new TypeError('boom')), 'TypeError');
    assert.equal(errorLabel('a string'), OTHER);
  });
});
