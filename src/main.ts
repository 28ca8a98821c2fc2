#!/usr/bin/env node
// Process entry. The OpenTelemetry SDK starts first: the gRPC instrumentation hooks @grpc/grpc-js as
// it is loaded, so nothing that imports it may be evaluated before. Hence dynamic imports, in order.
await import('./telemetry/register.js');
const { main } = await import('./cli/start.js');
await main(process.argv.slice(2), process.env);
