// Side-effect module: starts the OpenTelemetry SDK from the OTEL_* environment. main.ts imports it
// before anything that loads @grpc/grpc-js, which the gRPC instrumentation must see being loaded.
// Telemetry never stops the service: if the SDK cannot start, the node runs without it.
import { createLogger } from './log.js';
import { startTelemetry } from './sdk.js';

const log = createLogger({ component: 'telemetry' });
try {
  startTelemetry({ logger: log });
} catch (err) {
  log.error({ err: (err as Error).message }, 'telemetry: the OpenTelemetry SDK could not start; running without traces and metrics');
}
