import type { Connection, Verdict } from '../domain/decisions.js';
import type { AttributeCondition, EndItem, SessionStore, StoredAttribute, StoredSession } from '../domain/ports.js';
import type { EndReason } from '../domain/session.js';
import type { ClientInfo } from './bindings.js';
import { deleteAttribute, getAttribute, setAttribute } from './sessions/attributes.js';
import { attach } from './sessions/attach.js';
import { createContext, type SessionContext } from './sessions/context.js';
import { afterEnd, end, endedSessions, endSession, revoke, revokeUser } from './sessions/lifecycle.js';
import { create } from './sessions/login.js';
import { connectionOf, liveSession, lookup, siteOf, view } from './sessions/lookup.js';
import { endMine, listMine } from './sessions/own-sessions.js';
import { resume, siteOfLoginToken } from './sessions/persistent-logins.js';
import { reauthenticate } from './sessions/reauth.js';
import type {
  Attachment,
  CreateInput,
  MySessionsScope,
  MySessionView,
  RequestIdentity,
  ServiceStats,
  SessionServiceDeps,
  SessionServiceOptions,
  SessionView,
  ValidateResult,
} from './sessions/types.js';
import { heartbeatNow, validateNow, type SiteCheck } from './sessions/validate.js';

export type * from './sessions/types.js';

/**
 * SessionService is the facade of SessionService's RPCs: each method delegates to its use case in
 * app/sessions/ (lookup, login, validate, lifecycle, reauth, attach, attributes, persistent logins,
 * own sessions), which check input, answer from the watch-fed mirror when fresh (etcd once,
 * single-flight, on a miss), decide with the pure domain functions and write through the store port.
 */
export class SessionService {
  private readonly ctx: SessionContext;
  /** Counters for telemetry and tests. */
  readonly stats: ServiceStats;

  constructor(deps: SessionServiceDeps, options: SessionServiceOptions) {
    this.ctx = createContext(deps, options);
    this.stats = this.ctx.stats;
  }

  /** The session store this service writes through (read-only; tests read its adapter's counters). */
  get store(): SessionStore {
    return this.ctx.deps.store;
  }

  /** Finds a session in the mirror, waiting for it to catch up on a miss (see sessions/lookup.ts). */
  lookup(hash: string): Promise<StoredSession | null> {
    return lookup(this.ctx, hash);
  }

  /** The site of the live session a request names, or undefined if none (SPEC rule 21). */
  siteOf(req: RequestIdentity | string): Promise<string | undefined> {
    return siteOf(this.ctx, req);
  }

  /** The connection state of a connection-bound session as this node knows it (undefined for other types). */
  connectionOf(s: StoredSession): Connection | undefined {
    return connectionOf(this.ctx, s);
  }

  /** The session as callers see it now, or null when it has ended. */
  view(s: StoredSession, now: number): SessionView | null {
    return view(this.ctx, s, now);
  }

  /** Logs a user in (CreateSession), applying one-session-per-user, per-user limits and the session cap. */
  create(input: CreateInput): Promise<{ id: string; view: SessionView; loginToken?: string }> {
    return create(this.ctx, input);
  }

  /** The site of the family a login token belongs to, or undefined (SPEC rule 21). */
  siteOfLoginToken(token: string): Promise<string | undefined> {
    return siteOfLoginToken(this.ctx, token);
  }

  /** Resumes a persistent login (ResumeSession, SPEC rule 19), rotating its token. */
  resume(token: string, deviceId: string, client?: ClientInfo): Promise<{ id: string; view: SessionView; loginToken: string }> {
    return resume(this.ctx, token, deviceId, client);
  }

  /** Lists the user's live sessions at the site through one of their ids (ListMySessions, SPEC rule 20). */
  listMine(id: string, client?: ClientInfo): Promise<MySessionView[]> {
    return listMine(this.ctx, id, client);
  }

  /** Ends the user's other sessions, all of them, or one by handle (EndMySessions, SPEC rule 20); returns how many. */
  endMine(id: string, scope: MySessionsScope, handle: string, client?: ClientInfo): Promise<number> {
    return endMine(this.ctx, id, scope, handle, client);
  }

  /** Checks a request's session (ValidateSession): counts a hit and renews the idle timer. */
  async validate(req: RequestIdentity | string): Promise<ValidateResult> {
    return validateNow(this.ctx, req);
  }

  /** ValidateSession as the transport calls it: synchronous on a cache hit, a promise otherwise (see sessions/validate.ts). */
  validateNow(req: RequestIdentity | string, checkSite?: SiteCheck): ValidateResult | Promise<ValidateResult> {
    return validateNow(this.ctx, req, checkSite);
  }

  /** Keeps a session alive without counting a hit, and marks the instance present (Heartbeat). */
  async heartbeat(id: string, instanceId: string, client?: ClientInfo): Promise<Verdict> {
    return heartbeatNow(this.ctx, id, instanceId, client);
  }

  /** Heartbeat as the transport calls it: synchronous on a cache hit, a promise on a miss. */
  heartbeatNow(id: string, instanceId: string, client?: ClientInfo, checkSite?: SiteCheck): Verdict | Promise<Verdict> {
    return heartbeatNow(this.ctx, id, instanceId, client, checkSite);
  }

  /** Reads a session without touching it (GetSession). */
  async get(id: string, client?: ClientInfo): Promise<SessionView> {
    return (await liveSession(this.ctx, id, client)).view;
  }

  /** Logs out (EndSession): the session and its data are gone at once, cluster-wide. */
  end(id: string, forgetLogin = false, client?: ClientInfo): Promise<void> {
    return end(this.ctx, id, forgetLogin, client);
  }

  /** Ends a stored session for a reason (logout, revoke, expiry found on access). */
  endSession(s: StoredSession, reason: EndReason): Promise<boolean> {
    return endSession(this.ctx, s, reason);
  }

  /** Local bookkeeping after a session ended (by this node or, for `counted`, reported by it). */
  afterEnd(s: StoredSession, reason: EndReason, counted: boolean): void {
    afterEnd(this.ctx, s, reason, counted);
  }

  /** Re-authenticates (SPEC rule 3): same user, data kept, a new id. */
  reauthenticate(id: string, user: string, client?: ClientInfo): Promise<{ id: string; view: SessionView }> {
    return reauthenticate(this.ctx, id, user, client);
  }

  /** Opens a connection (Attach, SPEC rule 6); detach() of the result records when the last one went. */
  attach(id: string, instanceId: string, client?: ClientInfo): Promise<Attachment> {
    return attach(this.ctx, id, instanceId, client);
  }

  /** Ends sessions by reference (admin revoke); returns how many ended. */
  revoke(refs: readonly string[]): Promise<number> {
    return revoke(this.ctx, refs);
  }

  /** Ends every session of a user at a site (RevokeUserSessions); no racing login or re-authentication escapes. */
  revokeUser(site: string, user: string): Promise<number> {
    return revokeUser(this.ctx, site, user);
  }

  /** Reads one attribute (GetAttribute). */
  getAttribute(id: string, name: string, client?: ClientInfo): Promise<StoredAttribute> {
    return getAttribute(this.ctx, id, name, client);
  }

  /** Writes one attribute (SetAttribute); returns its new etag. */
  setAttribute(id: string, name: string, value: Uint8Array, cond: AttributeCondition, client?: ClientInfo): Promise<string> {
    return setAttribute(this.ctx, id, name, value, cond, client);
  }

  /** Deletes one attribute (DeleteAttribute). */
  deleteAttribute(id: string, name: string, cond: AttributeCondition, client?: ClientInfo): Promise<void> {
    return deleteAttribute(this.ctx, id, name, cond, client);
  }

  /** Items for the scavenger: every mirrored session that has ended by now, with its reason, and how many were examined. */
  endedSessions(now: number): { items: EndItem[]; scanned: number } {
    return endedSessions(this.ctx, now);
  }
}
