// The Redis baseline of the benchmarks: the obvious alternative design, a lean grpc-js service over
// Redis with the same generated SessionService definition. Each ValidateSession is one
// `GETEX s:<sha256(id)> PX <idle ttl>` (ioredis, auto-pipelining) whose stored bytes — an encoded
// VALID ValidateSessionResponse holding the Session — are returned as they are (no decode, no
// re-encode). Seeds one session at start. Prints {"event":"ready","port":N}.
//
// argv: <redis port> <session id> <base64 of the stored response bytes> [listen address]
import { hash } from 'node:crypto';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { SessionServiceService, ValidateSessionResponse, Verdict, type ValidateSessionRequest } from '../src/gen/sessionmanager/v1/session_service.js';

const [redisPort, sessionId, stored, listen] = process.argv.slice(2);
const IDLE_TTL_MS = 3_600_000;
const NOT_FOUND = Buffer.from(ValidateSessionResponse.encode({ verdict: Verdict.VERDICT_NOT_FOUND, session: undefined }).finish());

const redis = new Redis({ port: Number(redisPort), host: '127.0.0.1', enableAutoPipelining: true, lazyConnect: false });
await redis.set(`s:${hash('sha256', sessionId!, 'base64url')}`, Buffer.from(stored!, 'base64'), 'PX', IDLE_TTL_MS);

// The generated definition, except that the response is already bytes: what Redis returned goes out as is.
const validateDef = { ...SessionServiceService.validateSession, responseSerialize: (b: Buffer) => b };
const impl: UntypedServiceImplementation = {
  validateSession: (call: ServerUnaryCall<ValidateSessionRequest, Buffer>, cb: sendUnaryData<Buffer>) => {
    const key = `s:${hash('sha256', call.request.sessionId, 'base64url')}`;
    redis.getexBuffer(key, 'PX', IDLE_TTL_MS).then(
      (b) => cb(null, b ?? NOT_FOUND),
      (err: Error) => cb({ code: status.UNAVAILABLE, details: err.message }),
    );
  },
};
// The same transport settings the node runs with (channelz off: nobody serves it), so the baseline
// measures the protocol floor and not a default the node does not pay.
const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.enable_channelz': 0 });
server.addService({ validateSession: validateDef }, impl);
server.bindAsync(listen ?? '127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ event: 'ready', port })}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => (redis.disconnect(), process.exit(0))));
