import { credentials, Metadata, type ChannelCredentials, type ChannelOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  AdminServiceClient,
  type GetClusterStatusRequest,
  type GetClusterStatusResponse,
  type ListSessionsRequest,
  type ListSessionsResponse,
  type RevokeSessionRequest,
  type RevokeSessionResponse,
  type RevokeUserSessionsRequest,
  type RevokeUserSessionsResponse,
  type WatchEventsRequest,
  type WatchEventsResponse,
} from '../../gen/sessionmanager/v1/admin_service.js';
import {
  SessionServiceClient,
  type CreateSessionRequest,
  type CreateSessionResponse,
  type DeleteAttributeRequest,
  type DeleteAttributeResponse,
  EndSessionRequest,
  EndMySessionsRequest,
  ListMySessionsRequest,
  ResumeSessionRequest,
  type EndMySessionsResponse,
  type ListMySessionsResponse,
  type ResumeSessionResponse,
  type EndSessionResponse,
  type GetAttributeRequest,
  type GetAttributeResponse,
  type GetSessionRequest,
  type GetSessionResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type SetAttributeRequest,
  type SetAttributeResponse,
  ValidateSessionRequest,
  type ValidateSessionResponse,
  CreateSessionRequest as CreateSessionRequestMsg,
  type DeepPartial,
  type ReauthenticateRequest,
  type ReauthenticateResponse,
  type AttachRequest,
  type AttachResponse,
} from '../../gen/sessionmanager/v1/session_service.js';

/**
 * CreateSession input for callers: attributes as a Map or a plain record (the generated message
 * type wants a Map, which the wire format needs for names such as `__proto__`).
 */
export type CreateSessionInput = Omit<DeepPartial<CreateSessionRequest>, 'attributes'> & {
  attributes?: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>;
};

/** Builds a CreateSessionRequest message from a CreateSessionInput. */
export function createSessionRequest(input: CreateSessionInput): CreateSessionRequest {
  const { attributes, ...rest } = input;
  const entries = attributes instanceof Map ? [...attributes] : Object.entries(attributes ?? {});
  const msg = CreateSessionRequestMsg.fromPartial(rest);
  for (const [name, value] of entries) msg.attributes.set(name, Buffer.from(value));
  return msg;
}

type Cb<Res> = (err: ServiceError | null, res: Res) => void;

function promised<Req, Res>(
  fn: (req: Req, md: Metadata, opts: { deadline: Date }, cb: Cb<Res>) => unknown,
  timeoutMs: number,
  metadata: () => Metadata = () => new Metadata(),
) {
  return (req: Req): Promise<Res> =>
    new Promise((resolve, reject) =>
      fn(req, metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => (err ? reject(err) : resolve(res))),
    );
}

/** Metadata factory carrying `authorization: Bearer <token>` when a token is given. */
function bearer(token: string | undefined): () => Metadata {
  return () => {
    const m = new Metadata();
    if (token) m.set('authorization', `Bearer ${token}`);
    return m;
  };
}

/** SessionApi is a promise-based SessionService client, used by sessionctl and the tests. */
export class SessionApi {
  readonly raw: SessionServiceClient;
  readonly create: (req: CreateSessionInput) => Promise<CreateSessionResponse>;
  readonly validate: (req: DeepPartial<ValidateSessionRequest>) => Promise<ValidateSessionResponse>;
  readonly heartbeat: (req: HeartbeatRequest) => Promise<HeartbeatResponse>;
  readonly end: (req: DeepPartial<EndSessionRequest>) => Promise<EndSessionResponse>;
  readonly get: (req: GetSessionRequest) => Promise<GetSessionResponse>;
  readonly getAttribute: (req: GetAttributeRequest) => Promise<GetAttributeResponse>;
  readonly setAttribute: (req: SetAttributeRequest) => Promise<SetAttributeResponse>;
  readonly deleteAttribute: (req: DeleteAttributeRequest) => Promise<DeleteAttributeResponse>;
  readonly reauthenticate: (req: ReauthenticateRequest) => Promise<ReauthenticateResponse>;
  readonly resume: (req: DeepPartial<ResumeSessionRequest>) => Promise<ResumeSessionResponse>;
  readonly listMine: (req: DeepPartial<ListMySessionsRequest>) => Promise<ListMySessionsResponse>;
  readonly endMine: (req: DeepPartial<EndMySessionsRequest>) => Promise<EndMySessionsResponse>;

  private readonly md: () => Metadata;

  /** `token`: the caller's bearer token, sent on every call (SPEC rule 21). */
  constructor(
    address: string,
    options: { credentials?: ChannelCredentials; timeoutMs?: number; channelOptions?: ChannelOptions; token?: string } = {},
  ) {
    const c = new SessionServiceClient(address, options.credentials ?? credentials.createInsecure(), options.channelOptions);
    const t = options.timeoutMs ?? 10_000;
    this.raw = c;
    const md = (this.md = bearer(options.token));
    this.create = promised((r: CreateSessionInput, m, o, cb) => c.createSession(createSessionRequest(r), m, o, cb), t, md);
    this.validate = promised((r: DeepPartial<ValidateSessionRequest>, m, o, cb) => c.validateSession(ValidateSessionRequest.fromPartial(r), m, o, cb), t, md);
    this.heartbeat = promised((r, m, o, cb) => c.heartbeat(r, m, o, cb), t, md);
    this.end = promised((r: DeepPartial<EndSessionRequest>, m, o, cb) => c.endSession(EndSessionRequest.fromPartial(r), m, o, cb), t, md);
    this.get = promised((r, m, o, cb) => c.getSession(r, m, o, cb), t, md);
    this.getAttribute = promised((r, m, o, cb) => c.getAttribute(r, m, o, cb), t, md);
    this.setAttribute = promised((r, m, o, cb) => c.setAttribute(r, m, o, cb), t, md);
    this.deleteAttribute = promised((r, m, o, cb) => c.deleteAttribute(r, m, o, cb), t, md);
    this.reauthenticate = promised((r, m, o, cb) => c.reauthenticate(r, m, o, cb), t, md);
    this.resume = promised((r: DeepPartial<ResumeSessionRequest>, m, o, cb) => c.resumeSession(ResumeSessionRequest.fromPartial(r), m, o, cb), t, md);
    this.listMine = promised((r: DeepPartial<ListMySessionsRequest>, m, o, cb) => c.listMySessions(ListMySessionsRequest.fromPartial(r), m, o, cb), t, md);
    this.endMine = promised((r: DeepPartial<EndMySessionsRequest>, m, o, cb) => c.endMySessions(EndMySessionsRequest.fromPartial(r), m, o, cb), t, md);
  }

  /** Opens an Attach stream; end it with cancel(). */
  attach(req: AttachRequest): ClientReadableStream<AttachResponse> {
    return this.raw.attach(req, this.md());
  }

  close(): void {
    this.raw.close();
  }
}

/** AdminApi is a promise-based AdminService client carrying the admin bearer token. */
export class AdminApi {
  readonly raw: AdminServiceClient;
  readonly list: (req: ListSessionsRequest) => Promise<ListSessionsResponse>;
  readonly revoke: (req: RevokeSessionRequest) => Promise<RevokeSessionResponse>;
  readonly revokeUser: (req: RevokeUserSessionsRequest) => Promise<RevokeUserSessionsResponse>;
  readonly status: (req: GetClusterStatusRequest) => Promise<GetClusterStatusResponse>;
  private readonly md: () => Metadata;

  constructor(
    address: string,
    token: string | undefined,
    options: { credentials?: ChannelCredentials; timeoutMs?: number; channelOptions?: ChannelOptions } = {},
  ) {
    const c = new AdminServiceClient(address, options.credentials ?? credentials.createInsecure(), options.channelOptions);
    const t = options.timeoutMs ?? 10_000;
    this.md = bearer(token);
    this.raw = c;
    this.list = promised((r, m, o, cb) => c.listSessions(r, m, o, cb), t, this.md);
    this.revoke = promised((r, m, o, cb) => c.revokeSession(r, m, o, cb), t, this.md);
    this.revokeUser = promised((r, m, o, cb) => c.revokeUserSessions(r, m, o, cb), t, this.md);
    this.status = promised((r, m, o, cb) => c.getClusterStatus(r, m, o, cb), t, this.md);
  }

  /** Opens a WatchEvents stream; end it with cancel(). */
  watchEvents(req: WatchEventsRequest): ClientReadableStream<WatchEventsResponse> {
    return this.raw.watchEvents(req, this.md());
  }

  close(): void {
    this.raw.close();
  }
}
