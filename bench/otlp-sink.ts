// A local OTLP/HTTP sink for the tracing benchmark row: accepts every export (any path), reads and
// discards the body, answers 200 with an empty protobuf body, and counts bytes and requests.
// Prints {"event":"ready","port":N}; on the `stats` command line prints {"event":"stats",…}.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

let requests = 0;
let bytes = 0;
const server = createServer((req, res) => {
  req.on('data', (d: Buffer) => (bytes += d.length));
  req.on('end', () => {
    requests++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'stats') process.stdout.write(`${JSON.stringify({ event: 'stats', requests, bytes })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
