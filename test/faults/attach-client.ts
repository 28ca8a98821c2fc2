// A desktop client in its own process for the half-open tests: opens Attach for the session given on
// the command line, prints ATTACHED once the server confirms, then holds the stream open. The test
// SIGSTOPs it: the TCP connection stays open but nobody answers HTTP/2 pings any more.
import { AttachResponse_Kind, type AttachResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { SessionApi } from '../../src/transport/grpc/client.js';

const [address, sessionId] = process.argv.slice(2);
if (!address || !sessionId) {
  process.stderr.write('usage: attach-client ADDRESS SESSION_ID\n');
  process.exit(2);
}
const api = new SessionApi(address, { timeoutMs: 5000 });
const stream = api.attach({ sessionId, instanceId: 'desktop-window-1' });
stream.on('data', (m: AttachResponse) => {
  if (m.kind === AttachResponse_Kind.KIND_ATTACHED) process.stdout.write('ATTACHED\n');
});
stream.on('error', (err: Error) => {
  process.stderr.write(`attach failed: ${err.message}\n`);
  process.exit(1);
});
setInterval(() => {}, 1 << 30);
