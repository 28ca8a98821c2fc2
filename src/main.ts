#!/usr/bin/env node
// Process entry. The OpenTelemetry SDK starts first: the gRPC instrumentation hooks @grpc/grpc-js as
// it is loaded, so nothing that imports it may be evaluated before. Hence dynamic imports, in order.
// Flags are read first: --help and --version print and exit 0, and bad flags exit 2, before
// telemetry opens its metrics port. args.js loads nothing but node: built-ins.
const { helpOrVersion, parseStartArgs } = await import('./cli/args.js');
const early = helpOrVersion(process.argv.slice(2));
if (early !== undefined) {
  process.stdout.write(early);
  process.exit(0);
}
try {
  parseStartArgs(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`session-manager: ${(err as Error).message} (see session-manager --help)\n`);
  process.exit(2);
}
await import('./telemetry/register.js');
const { main } = await import('./cli/start.js');
await main(process.argv.slice(2), process.env);
