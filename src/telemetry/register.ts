// Side-effect module: starts the OpenTelemetry SDK from the OTEL_* environment. main.ts imports it
// before anything that loads @grpc/grpc-js, which the gRPC instrumentation must see being loaded.
import { startTelemetry } from './sdk.js';

startTelemetry();
