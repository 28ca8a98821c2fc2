// The RPC baseline of the benchmarks: a grpc-js server with the same generated SessionService
// definition (same (de)serialisers) whose ValidateSession returns one constant response of the same
// shape a real VALID answer has, and does nothing else. Prints {"event":"ready","port":N}.
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ClientType, SessionState } from '../src/gen/sessionmanager/v1/session.js';
import { SessionServiceService, Verdict, type HeartbeatRequest, type HeartbeatResponse, type ValidateSessionRequest, type ValidateSessionResponse } from '../src/gen/sessionmanager/v1/session_service.js';

const now = new Date();
const CONSTANT: ValidateSessionResponse = {
  verdict: Verdict.VERDICT_VALID,
  session: {
    site: 'default',
    user: 'user-1',
    clientType: ClientType.CLIENT_TYPE_MOBILE,
    deviceId: 'bench',
    createTime: now,
    lastAccessTime: now,
    hitCount: 1,
    state: SessionState.SESSION_STATE_ACTIVE,
    policy: {
      idleTimeout: { seconds: 3600, nanos: 0 },
      idleNever: false,
      connectionBound: false,
      singleRequestTimeout: { seconds: 300, nanos: 0 },
      absoluteTimeout: { seconds: 86400, nanos: 0 },
      hitMax: 0,
      touchGranularity: { seconds: 60, nanos: 0 },
    },
    idleDeadline: now,
    absoluteDeadline: now,
    attributeNames: [],
    handle: 'abcdefghij',
  } as ValidateSessionResponse['session'],
};

const HEARTBEAT: HeartbeatResponse = { verdict: Verdict.VERDICT_VALID };

// The same transport settings the node runs with (channelz off: nobody serves it), so the baseline
// measures the protocol floor and not a default the node does not pay.
const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.enable_channelz': 0 });
const impl: UntypedServiceImplementation = {
  validateSession: (_call: ServerUnaryCall<ValidateSessionRequest, ValidateSessionResponse>, cb: sendUnaryData<ValidateSessionResponse>) => {
    cb(null, CONSTANT);
  },
  heartbeat: (_call: ServerUnaryCall<HeartbeatRequest, HeartbeatResponse>, cb: sendUnaryData<HeartbeatResponse>) => {
    cb(null, HEARTBEAT);
  },
};
// Only ValidateSession and Heartbeat are implemented; the other methods answer UNIMPLEMENTED.
server.addService({ validateSession: SessionServiceService.validateSession, heartbeat: SessionServiceService.heartbeat }, impl);
server.bindAsync(process.argv[2] ?? '127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ event: 'ready', port })}\n`);
});
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
