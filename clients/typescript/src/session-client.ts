import type { ClientReadableStream } from '@grpc/grpc-js';
import { ServiceClient, unary } from './base-client.js';
import type { CallOptions, ClientOptions, SessionCallOptions } from './options.js';
import type { Attribute, Session } from './gen/sessionmanager/v1/session.js';
import {
  AttachRequest,
  CreateSessionRequest,
  DeleteAttributeRequest,
  EndMySessionsRequest,
  EndMySessionsRequest_Scope,
  EndSessionRequest,
  GetAttributeRequest,
  ListMySessionsRequest,
  ResumeSessionRequest,
  type ClientInfo,
  type MySession,
  GetSessionRequest,
  HeartbeatRequest,
  ReauthenticateRequest,
  SessionServiceClient,
  SetAttributeRequest,
  ValidateSessionRequest,
  type AttachResponse,
  type DeepPartial,
} from './gen/sessionmanager/v1/session_service.js';
import { toHeartbeatResult, toValidateResult, type HeartbeatResult, type ValidateResult } from './verdict.js';

export { DEFAULT_DEADLINE_MS } from './base-client.js';

/** A login: the CreateSessionRequest fields, with attributes as a Map or a record of bytes or strings. */
export type CreateSessionInput = Omit<DeepPartial<CreateSessionRequest>, 'attributes'> & {
  attributes?: ReadonlyMap<string, Uint8Array | string> | Readonly<Record<string, Uint8Array | string>>;
};

/** A new (or re-authenticated) session: the secret id, shown only here, and the session. */
export interface CreatedSession {
  readonly sessionId: string;
  readonly session: Session;
  /** The persistent-login token (a login with `persistent: true`, or a resume); shown only here, single use. */
  readonly loginToken?: string;
}

/** Which of the user's own sessions endMySessions ends: the others, all, or one by its handle. */
export type MySessionsScope = 'others' | 'all' | { readonly handle: string };

const bytes = (v: Uint8Array | string): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v));

/**
 * SessionClient is the typed, promise-based client of SessionService for the services that call
 * it: round_robin over every node, retries of the idempotent calls, deadlines, TLS and caller token.
 * Every call rejects with a SessionManagerError subclass carrying the server's ErrorInfo reason.
 */
export class SessionClient extends ServiceClient<SessionServiceClient> {
  constructor(options: ClientOptions) {
    super(SessionServiceClient, options);
  }

  /** Logs a user in (never retried by the client: a retry could create a second session). */
  async createSession(input: CreateSessionInput, opts?: CallOptions): Promise<CreatedSession> {
    const { attributes, ...rest } = input;
    const req = CreateSessionRequest.fromPartial(rest);
    const entries = attributes instanceof Map ? [...attributes] : Object.entries(attributes ?? {});
    for (const [name, value] of entries) req.attributes.set(name, bytes(value));
    const res = await unary(this.raw, this.raw.createSession, req, this.deadlineMs, opts);
    return { sessionId: res.sessionId, session: res.session!, ...(res.loginToken ? { loginToken: res.loginToken } : {}) };
  }

  /** Checks a request's session (counts a hit, renews the idle timer); pass the end user's ip and user agent. */
  async validateSession(req: DeepPartial<ValidateSessionRequest>, opts?: CallOptions): Promise<ValidateResult> {
    const res = await unary(this.raw, this.raw.validateSession, ValidateSessionRequest.fromPartial(req), this.deadlineMs, opts);
    return toValidateResult(res.verdict, res.session);
  }

  /** Keeps a session alive from one client instance (tab, window) without counting a hit. */
  async heartbeat(req: DeepPartial<HeartbeatRequest>, opts?: CallOptions): Promise<HeartbeatResult> {
    const res = await unary(this.raw, this.raw.heartbeat, HeartbeatRequest.fromPartial(req), this.deadlineMs, opts);
    return toHeartbeatResult(res.verdict);
  }

  /** Logs out: ends the session and destroys its data; `forgetLogin` also revokes its persistent login ("forget this device"). */
  async endSession(sessionId: string, opts?: SessionCallOptions & { forgetLogin?: boolean }): Promise<void> {
    const { forgetLogin, client, ...call } = opts ?? {};
    await unary(this.raw, this.raw.endSession, EndSessionRequest.fromPartial({ sessionId, forgetLogin: !!forgetLogin, client }), this.deadlineMs, call);
  }

  /**
   * Resumes a persistent login without credentials: a new session and a rotated token (keep the new
   * one; the presented one is spent). Never retried by the client. A spent token presented again
   * rejects with reason LOGIN_TOKEN_REUSED and revokes the whole login.
   */
  async resumeSession(loginToken: string, deviceId: string, client?: ClientInfo, opts?: CallOptions): Promise<CreatedSession & { loginToken: string }> {
    const req = ResumeSessionRequest.fromPartial({ loginToken, deviceId, ...(client ? { client } : {}) });
    const res = await unary(this.raw, this.raw.resumeSession, req, this.deadlineMs, opts);
    return { sessionId: res.sessionId, session: res.session!, loginToken: res.loginToken };
  }

  /** Lists the user's sessions at the site through one of their live session ids; `current` marks that one. */
  async listMySessions(sessionId: string, opts?: CallOptions): Promise<MySession[]> {
    const res = await unary(this.raw, this.raw.listMySessions, ListMySessionsRequest.fromPartial({ sessionId }), this.deadlineMs, opts);
    return res.sessions;
  }

  /** Ends the user's other sessions, all of them, or one by handle ("sign out other devices"); returns how many ended. */
  async endMySessions(sessionId: string, scope: MySessionsScope, opts?: CallOptions): Promise<number> {
    const req = EndMySessionsRequest.fromPartial(
      scope === 'others'
        ? { sessionId, scope: EndMySessionsRequest_Scope.SCOPE_OTHERS }
        : scope === 'all'
          ? { sessionId, scope: EndMySessionsRequest_Scope.SCOPE_ALL }
          : { sessionId, scope: EndMySessionsRequest_Scope.SCOPE_ONE, handle: scope.handle },
    );
    return (await unary(this.raw, this.raw.endMySessions, req, this.deadlineMs, opts)).ended;
  }

  /** Reads a session without touching it (NotFoundError when it is gone). */
  async getSession(sessionId: string, opts?: SessionCallOptions): Promise<Session> {
    const res = await unary(this.raw, this.raw.getSession, GetSessionRequest.fromPartial({ sessionId, client: opts?.client }), this.deadlineMs, opts);
    return res.session!;
  }

  /** Reads one attribute with its etag (NotFoundError with reason ATTRIBUTE_NOT_FOUND when absent). */
  async getAttribute(sessionId: string, name: string, opts?: SessionCallOptions): Promise<Attribute> {
    const res = await unary(this.raw, this.raw.getAttribute, GetAttributeRequest.fromPartial({ sessionId, name, client: opts?.client }), this.deadlineMs, opts);
    return res.attribute!;
  }

  /** Writes one attribute; `etag` or `createOnly` make it conditional (ConflictError when the condition fails). */
  async setAttribute(sessionId: string, name: string, value: Uint8Array | string, cond: { etag?: string; createOnly?: boolean } = {}, opts?: SessionCallOptions): Promise<{ etag: string }> {
    const req = SetAttributeRequest.fromPartial({ sessionId, name, value: bytes(value), etag: cond.etag ?? '', createOnly: cond.createOnly ?? false, client: opts?.client });
    const res = await unary(this.raw, this.raw.setAttribute, req, this.deadlineMs, opts);
    return { etag: res.etag };
  }

  /** Deletes one attribute, conditional on `etag` when given. */
  async deleteAttribute(sessionId: string, name: string, cond: { etag?: string } = {}, opts?: SessionCallOptions): Promise<void> {
    await unary(this.raw, this.raw.deleteAttribute, DeleteAttributeRequest.fromPartial({ sessionId, name, etag: cond.etag ?? '', client: opts?.client }), this.deadlineMs, opts);
  }

  /** Re-authenticates a session after a new login of the same user: data kept, new session id. */
  async reauthenticate(sessionId: string, user: string, opts?: SessionCallOptions): Promise<CreatedSession> {
    const res = await unary(this.raw, this.raw.reauthenticate, ReauthenticateRequest.fromPartial({ sessionId, user, client: opts?.client }), this.deadlineMs, opts);
    return { sessionId: res.sessionId, session: res.session! };
  }

  /** Opens an Attach stream for a connection-bound client; `cancel()` it to detach. Has no deadline. */
  attach(sessionId: string, instanceId: string): ClientReadableStream<AttachResponse> {
    return this.raw.attach(AttachRequest.fromPartial({ sessionId, instanceId }));
  }
}
