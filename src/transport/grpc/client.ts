import { credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import {
  SessionServiceClient,
  type CreateSessionRequest,
  type CreateSessionResponse,
  type DeleteAttributeRequest,
  type DeleteAttributeResponse,
  type EndSessionRequest,
  type EndSessionResponse,
  type GetAttributeRequest,
  type GetAttributeResponse,
  type GetSessionRequest,
  type GetSessionResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type SetAttributeRequest,
  type SetAttributeResponse,
  type ValidateSessionRequest,
  type ValidateSessionResponse,
} from '../../gen/sessionmanager/v1/session_service.js';

type Cb<Res> = (err: ServiceError | null, res: Res) => void;

function promised<Req, Res>(fn: (req: Req, md: Metadata, opts: { deadline: Date }, cb: Cb<Res>) => unknown, timeoutMs: number) {
  return (req: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      fn(req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res))),
    );
}

/** SessionApi is a promise-based SessionService client, used by sessionctl and the tests. */
export class SessionApi {
  readonly raw: SessionServiceClient;
  readonly create: (req: CreateSessionRequest) => Promise<CreateSessionResponse>;
  readonly validate: (req: ValidateSessionRequest) => Promise<ValidateSessionResponse>;
  readonly heartbeat: (req: HeartbeatRequest) => Promise<HeartbeatResponse>;
  readonly end: (req: EndSessionRequest) => Promise<EndSessionResponse>;
  readonly get: (req: GetSessionRequest) => Promise<GetSessionResponse>;
  readonly getAttribute: (req: GetAttributeRequest) => Promise<GetAttributeResponse>;
  readonly setAttribute: (req: SetAttributeRequest) => Promise<SetAttributeResponse>;
  readonly deleteAttribute: (req: DeleteAttributeRequest) => Promise<DeleteAttributeResponse>;

  constructor(address: string, options: { credentials?: ChannelCredentials; timeoutMs?: number } = {}) {
    const c = new SessionServiceClient(address, options.credentials ?? credentials.createInsecure());
    const t = options.timeoutMs ?? 10_000;
    this.raw = c;
    this.create = promised((r, m, o, cb) => c.createSession(r, m, o, cb), t);
    this.validate = promised((r, m, o, cb) => c.validateSession(r, m, o, cb), t);
    this.heartbeat = promised((r, m, o, cb) => c.heartbeat(r, m, o, cb), t);
    this.end = promised((r, m, o, cb) => c.endSession(r, m, o, cb), t);
    this.get = promised((r, m, o, cb) => c.getSession(r, m, o, cb), t);
    this.getAttribute = promised((r, m, o, cb) => c.getAttribute(r, m, o, cb), t);
    this.setAttribute = promised((r, m, o, cb) => c.setAttribute(r, m, o, cb), t);
    this.deleteAttribute = promised((r, m, o, cb) => c.deleteAttribute(r, m, o, cb), t);
  }

  close(): void {
    this.raw.close();
  }
}
