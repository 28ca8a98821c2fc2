// Loaded with `mocha --import ./dist/test/telemetry/setup.js`, before any test file: starts the
// OpenTelemetry SDK with an in-memory span exporter and metric reader before @grpc/grpc-js is
// loaded, so the gRPC instrumentation hooks it. Must not import anything that loads grpc-js
// (test/support/etcd.ts and nodes.ts do, through etcd3 and the node).
import { pathToFileURL } from 'node:url';
import { MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '../../src/telemetry/log.js';
import { startTelemetry } from '../../src/telemetry/sdk.js';

/** A metric reader the tests collect from on demand. */
class TestMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

// mocha 10 takes `--import <file>` (with a space) for a boolean and runs this file as the main script,
// which would end the run with status 0 and no tests: refuse. Use `--import=<file>`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stderr.write('test/telemetry/setup.js must be preloaded: mocha --import=./dist/test/telemetry/setup.js …\n');
  process.exit(1);
}

// Deterministic SDK behaviour whatever the caller's environment says.
delete process.env['OTEL_SDK_DISABLED'];
process.env['OTEL_TRACES_SAMPLER'] = 'parentbased_always_on';
process.env['OTEL_PROPAGATORS'] = 'tracecontext,baggage';

/** Every span finished in this test process. */
export const spans = new InMemorySpanExporter();
/** Reads the global meter provider's metrics. */
export const metricReader = new TestMetricReader();

export const telemetry = startTelemetry({
  spanProcessors: [new SimpleSpanProcessor(spans)],
  metricReaders: [metricReader],
  logger: createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', component: 'telemetry' }),
});
