import type { Clock } from '../domain/clock.js';
import type { ClientType } from '../domain/client-type.js';
import { decideHeartbeat, decideValidate, idleDeadline, needsExactHit, standing, withActivity, type Connection, type Verdict } from '../domain/decisions.js';
import {
  AttributeNotFoundError,
  ConcurrentUpdateError,
  IdModeDisabledError,
  InvalidFieldError,
  LoginTokenDeviceMismatchError,
  LoginTokenExpiredError,
  LoginTokenNotFoundError,
  LoginTokenReusedError,
  LookupBacklogFullError,
  PersistentLoginNotAllowedError,
  SessionHandleNotFoundError,
  SessionExistsError,
  SessionNotFoundError,
  StoreQuotaExceededError,
  StoreUnavailableError,
  TooManyAttributesError,
  UnreadableRecordError,
  UserMismatchError,
} from '../domain/errors.js';
import { planLogin } from '../domain/login.js';
import { decideResume, LoginFamilyChangedError, rotated, type LoginFamily } from '../domain/login-family.js';
import type { ClusterPolicy } from '../domain/policy.js';
import { IDLE_CONNECTION_BOUND, sessionPolicyFor } from '../domain/policy.js';
import type { AttributeCondition, CasResult, EndItem, LoginFamilyStore, LoginTokenWrite, SessionStore, StoredAttribute, StoredFamily, StoredSession } from '../domain/ports.js';
import { newSessionRecord, type Binding, type EndReason, type LiveState, type SessionRecord } from '../domain/session.js';
import { mayEndForEveryone } from '../domain/skew.js';
import type { PresenceChannel } from '../cache/presence-channel.js';
import type { SessionCache } from '../cache/session-cache.js';
import type { ConfigSource } from '../config/loader.js';
import type { PresenceStore } from '../store/etcd/presence-store.js';
import { bindingFor, carriedBinding, presentedBinding, requireBinding, type ClientInfo } from './bindings.js';
import { deriveClientAddressId, generateEtag, generateSessionId, handleOf, hashSessionId } from './ids.js';
import { generateFamilyId, generateLoginToken, hashLoginToken, openSuccessor, requireLoginToken, sealSuccessor } from './login-tokens.js';
import { KeyedMutex } from './keyed-mutex.js';
import { endLineage, LOGOUT_FOLLOW_WINDOW_MS } from './lineage.js';
import type { NodeEvents } from './node-events.js';
import type { PresenceTracker } from './presence.js';
import { SingleFlight } from './single-flight.js';
import type { TouchWriter } from './touch-writer.js';
import { requireAttribute, requireAttributes, requireClientType, requireName, requireSessionId, requireSite } from './validation.js';

/** What the service needs to know about the mirror's freshness (the WatchFeed). */
export interface FreshnessGate {
  /** Throws CacheStaleError / NotServingError when the mirror must not be trusted. */
  assertFresh(): void;
  /** Resolves once the mirror holds every change committed before the call (a shared quorum read). */
  sync(): Promise<number>;
}

/** A session as returned to callers: the stored record with local activity and its standing now. */
export interface SessionView {
  readonly hash: string;
  readonly rec: SessionRecord;
  readonly state: LiveState;
  readonly idleDeadline: number;
}

/** How a session id is formed (SPEC rule 13). */
export type IdMode = 'TICKET' | 'CLIENT_ADDRESS';

export type { ClientInfo } from './bindings.js';

/** Input of a login. */
export interface CreateInput {
  site: string;
  user: string;
  clientType: string;
  deviceId: string;
  attributes: ReadonlyMap<string, Uint8Array>;
  idMode?: IdMode;
  client?: ClientInfo;
  bindIp?: boolean;
  bindUserAgent?: boolean;
  /** Ask for a persistent-login token (SPEC rule 19). */
  persistent?: boolean;
}

/** One of a user's sessions as the user sees it (ListMySessions, SPEC rule 20). */
export interface MySessionView {
  readonly view: SessionView;
  readonly present: boolean;
  readonly persistent: boolean;
  readonly current: boolean;
}

/** Which of a user's sessions EndMySessions ends. */
export type MySessionsScope = 'OTHERS' | 'ALL' | 'ONE';

/** What identifies the session of a validated request: a ticket, or a CLIENT_ADDRESS site + client. */
export interface RequestIdentity {
  sessionId: string;
  idMode?: IdMode;
  site?: string;
  client?: ClientInfo;
}

/** The answer of a validate: the verdict and, when VALID, the session as the caller sees it. */
export interface ValidateResult {
  verdict: Verdict;
  view?: SessionView;
}

/** Counters for telemetry and tests. */
export interface ServiceStats {
  cacheHits: number;
  cacheMisses: number;
  verdicts: Record<Verdict, number>;
  created: number;
  ended: Partial<Record<EndReason, number>>;
}

/** Options of SessionService. */
export interface SessionServiceOptions {
  /** This node's id (presence bookkeeping). Required. */
  nodeId: string;
  /** HMAC key of CLIENT_ADDRESS ids; absent disables that mode. */
  idKey?: Buffer;
  /** Attempts of a compare-and-swap loop before giving up with CONCURRENT_UPDATE. Default 8. */
  maxCasAttempts?: number;
  /** Attempts of an exact hit-count write, which races every node serving the session. Default 64. */
  maxExactAttempts?: number;
  /** Most cache misses waiting for the mirror at once; more are refused with LOOKUP_BACKLOG_FULL. Default 10000. */
  maxPendingMisses?: number;
}

/** An open Attach connection; `detach` must be called exactly once when the stream closes. */
export interface Attachment {
  readonly hash: string;
  detach(): Promise<void>;
}

/** Everything SessionService works with. */
export interface SessionServiceDeps {
  store: SessionStore;
  cache: SessionCache;
  feed: FreshnessGate;
  config: ConfigSource;
  clock: Clock;
  touches: TouchWriter;
  presence: PresenceTracker;
  presenceMirror: PresenceChannel;
  presenceStore: PresenceStore;
  events?: NodeEvents;
  /** Persistent-login token families (SPEC rule 19); absent, persistent logins are refused. */
  families?: LoginFamilyStore;
}

/**
 * SessionService holds the use cases of SessionService's RPCs: it checks input, answers from the
 * watch-fed mirror when fresh (etcd once, single-flight, on a miss), decides with the pure domain
 * functions and writes through the store port.
 */
export class SessionService {
  private readonly endings = new SingleFlight<boolean>();
  private readonly exact = new KeyedMutex();
  private readonly connectionWrites = new KeyedMutex();
  private readonly maxCas: number;
  private readonly maxExact: number;
  private readonly maxPendingMisses: number;
  private pendingMisses = 0;
  readonly stats: ServiceStats = {
    cacheHits: 0,
    cacheMisses: 0,
    verdicts: { VALID: 0, NOT_FOUND: 0, EXPIRED: 0, REAUTH_REQUIRED: 0, HIT_LIMIT: 0, BINDING_MISMATCH: 0 },
    created: 0,
    ended: {},
  };

  constructor(
    private readonly deps: SessionServiceDeps,
    private readonly options: SessionServiceOptions,
  ) {
    if (!options.nodeId) throw new Error('session-service: nodeId is required');
    this.maxCas = options.maxCasAttempts ?? 8;
    if (!(this.maxCas >= 1)) throw new Error('session-service: maxCasAttempts must be at least 1');
    this.maxExact = options.maxExactAttempts ?? 64;
    if (!(this.maxExact >= 1)) throw new Error('session-service: maxExactAttempts must be at least 1');
    this.maxPendingMisses = options.maxPendingMisses ?? 10_000;
    if (!(this.maxPendingMisses >= 1)) throw new Error('session-service: maxPendingMisses must be at least 1');
  }

  /**
   * Finds a session in the mirror. On a miss it does not read the record from etcd: it waits until
   * the mirror has applied everything etcd had committed when the miss happened (one shared
   * linearizable revision read for all concurrent misses, ARCHITECTURE decision 10) and looks again,
   * so a login acknowledged on another node is found while a flood of unknown ids costs etcd almost
   * nothing. Beyond `maxPendingMisses` waiting misses the call is refused (LOOKUP_BACKLOG_FULL).
   */
  async lookup(hash: string): Promise<StoredSession | null> {
    return this.lookupHit(hash) ?? this.lookupMiss(hash);
  }

  /** The mirror's session for `hash` if it holds one now (counted as a hit), without waiting: the hot path. */
  private lookupHit(hash: string): StoredSession | undefined {
    this.deps.feed.assertFresh();
    const hit = this.deps.cache.get(hash);
    if (hit) this.stats.cacheHits++;
    return hit;
  }

  /** The slow half of lookup: the mirror did not hold `hash`; wait until it has caught up and look again. */
  private async lookupMiss(hash: string): Promise<StoredSession | null> {
    this.stats.cacheMisses++;
    if (this.pendingMisses >= this.maxPendingMisses) throw new LookupBacklogFullError(this.maxPendingMisses);
    this.pendingMisses++;
    try {
      await this.deps.feed.sync();
    } finally {
      this.pendingMisses--;
    }
    const s = this.deps.cache.get(hash);
    if (!s && this.deps.cache.isUnreadable(hash)) throw new UnreadableRecordError('session record in etcd cannot be decoded');
    return s ?? null;
  }

  /**
   * The site of the live session a request names, or undefined if none: the transport checks it
   * against the caller's allowed sites before the call reads or writes anything (SPEC rule 21).
   */
  async siteOf(req: RequestIdentity | string): Promise<string | undefined> {
    const identity = typeof req === 'string' ? { sessionId: req } : req;
    return (await this.lookup(hashSessionId(this.idOf(identity))))?.rec.site;
  }

  /** The connection state of a connection-bound session as this node knows it (undefined for other types). */
  connectionOf(s: StoredSession): Connection | undefined {
    if (s.rec.policy.idleMs !== IDLE_CONNECTION_BOUND) return undefined;
    if (this.deps.presence.hasConnection(s.hash) || this.deps.presenceMirror.hasConnection(s.hash)) return { attached: true, lostSince: 0 };
    return { attached: false, lostSince: Math.max(s.rec.connectionLostAt, this.deps.presenceMirror.lostSince(s.hash)) };
  }

  /** The session as callers see it now, or null when it has ended. */
  view(s: StoredSession, now: number): SessionView | null {
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const st = standing(rec, now, this.connectionOf(s));
    if (st.kind === 'ENDED') return null;
    return { hash: s.hash, rec, state: st.kind, idleDeadline: st.idleDeadline };
  }

  /** A live session for a call that takes its id, refused (BINDING_MISMATCH) when `client` does not match its bindings. */
  private async liveSession(id: string, client: ClientInfo | undefined): Promise<{ s: StoredSession; view: SessionView }> {
    requireSessionId(id);
    const s = await this.lookup(hashSessionId(id));
    const view = s ? this.view(s, this.deps.clock.now()) : null;
    if (!s || !view) throw new SessionNotFoundError();
    requireBinding(s.rec, id, client);
    return { s, view };
  }

  /** Logs a user in (CreateSession), applying one-session-per-user, per-user limits and the session cap. */
  async create(input: CreateInput): Promise<{ id: string; view: SessionView; loginToken?: string }> {
    const { policy } = this.deps.config.current();
    requireSite(policy, input.site);
    requireName('user', input.user);
    const clientType: ClientType = requireClientType(input.clientType);
    requireName('device_id', input.deviceId);
    if (input.persistent) {
      if (!policy.persistentTypes.has(clientType) || !this.deps.families) throw new PersistentLoginNotAllowedError(clientType);
      if (input.idMode === 'CLIENT_ADDRESS') throw new InvalidFieldError('persistent', 'not available with ID_MODE_CLIENT_ADDRESS');
    }
    requireAttributes(policy, input.attributes);
    const now = this.deps.clock.now();
    const client = input.client ?? { ip: '', userAgent: '' };
    if ((input.bindIp || input.idMode === 'CLIENT_ADDRESS') && !client.ip) throw new InvalidFieldError('client.ip', 'required for this id mode or binding');
    if ((input.bindUserAgent || input.idMode === 'CLIENT_ADDRESS') && !client.userAgent) {
      throw new InvalidFieldError('client.user_agent', 'required for this id mode or binding');
    }
    let id: string;
    if (input.idMode === 'CLIENT_ADDRESS') {
      if (!this.options.idKey) throw new IdModeDisabledError();
      id = deriveClientAddressId(this.options.idKey, input.site, client.ip, client.userAgent);
      if (await this.lookup(hashSessionId(id))) throw new SessionExistsError();
    } else {
      id = generateSessionId();
    }
    const hash = hashSessionId(id);
    const binding: Binding = bindingFor(client, !!input.bindIp, !!input.bindUserAgent);
    let loginToken: string | undefined;
    let token: LoginTokenWrite | undefined;
    let familyId: string | undefined;
    if (input.persistent) {
      loginToken = generateLoginToken();
      familyId = generateFamilyId();
      const tokenHash = hashLoginToken(loginToken);
      const family: LoginFamily = {
        site: input.site,
        user: input.user,
        clientType,
        deviceId: input.deviceId,
        issuedAt: now,
        expiresAt: now + policy.persistentLifetimeMs,
        idleMs: policy.persistentIdleMs,
        lastUsedAt: now,
        current: tokenHash,
        sessions: [hash],
        ...(input.bindIp || input.bindUserAgent ? { bind: { ip: !!input.bindIp, userAgent: !!input.bindUserAgent } } : {}),
      };
      token = { familyId, family, expectMod: 0, tokenHash };
    }
    const rec = newSessionRecord({
      site: input.site,
      user: input.user,
      clientType,
      deviceId: input.deviceId,
      policy: sessionPolicyFor(policy, clientType),
      attributeNames: [...input.attributes.keys()],
      now,
      binding,
    });
    const view = await this.storeLogin(policy, hash, familyId ? { ...rec, loginFamily: familyId } : rec, input.attributes, now, token);
    return { id, view, ...(loginToken ? { loginToken } : {}) };
  }

  /** Writes a login with the rules of CreateSession (one session per user, limits, cap), with an optional token family write in the same txn. */
  private async storeLogin(
    policy: ClusterPolicy,
    hash: string,
    rec: SessionRecord,
    attributes: ReadonlyMap<string, Uint8Array>,
    now: number,
    token?: LoginTokenWrite,
  ): Promise<SessionView> {
    const clientType = rec.clientType;
    const { session, ended } = await this.deps.store.login({
      hash,
      rec,
      attributes,
      etags: new Map([...attributes.keys()].map((n) => [n, generateEtag()])),
      ttlMs: this.deps.touches.ttlFor(rec),
      plan: (existing) =>
        planLogin(
          policy,
          clientType,
          rec.deviceId,
          // A connection this node holds is presence even before its key is visible elsewhere.
          existing.map((e) => ({ ...e, present: e.present || this.deps.presence.hasConnection(e.hash) })),
        ),
      maxSessions: policy.maxSessions,
      userRules: policy.singlePerUser.has(clientType) || policy.limitPerUser[clientType] > 0,
      ...(token ? { token } : {}),
    });
    this.deps.cache.upsert(session);
    for (const e of ended) this.afterEnd(e.s, e.reason, true);
    this.stats.created++;
    this.deps.events?.emit('session-created', rec.site, rec.clientType);
    const st = standing(rec, now, this.connectionOf(session));
    return { hash, rec, state: 'ACTIVE', idleDeadline: st.kind === 'ENDED' ? now : st.idleDeadline };
  }

  /** The token family store, or PERSISTENT_LOGIN_NOT_ALLOWED when this node has none. */
  private families(): LoginFamilyStore {
    if (!this.deps.families) throw new PersistentLoginNotAllowedError('any');
    return this.deps.families;
  }

  /** The site of the family a login token belongs to, or undefined: the transport checks it before the call writes anything (SPEC rule 21). */
  async siteOfLoginToken(token: string): Promise<string | undefined> {
    requireLoginToken(token);
    return (await this.families().byToken(hashLoginToken(token)))?.family.site;
  }

  /**
   * Resumes a persistent login (ResumeSession, SPEC rule 19): creates a new session for the family's
   * user with the policy and login rules in force now and rotates the token in the same txn. A spent
   * token presented again within the reuse grace gets the same successor; later, the whole family is
   * revoked (TOKEN_REUSED) and the call fails LOGIN_TOKEN_REUSED.
   */
  async resume(token: string, deviceId: string, client?: ClientInfo): Promise<{ id: string; view: SessionView; loginToken: string }> {
    requireLoginToken(token);
    requireName('device_id', deviceId);
    const families = this.families();
    const tokenHash = hashLoginToken(token);
    for (let i = 0; i < this.maxCas; i++) {
      const f = await families.byToken(tokenHash);
      if (!f) throw new LoginTokenNotFoundError();
      const { policy } = this.deps.config.current();
      const now = this.deps.clock.now();
      const d = decideResume(f.family, tokenHash, deviceId, now, policy.persistentReuseGraceMs);
      if (d.kind === 'device') throw new LoginTokenDeviceMismatchError();
      if (d.kind === 'expired') throw new LoginTokenExpiredError();
      if (d.kind === 'revoked') throw d.reason === 'TOKEN_REUSED' ? new LoginTokenReusedError() : new LoginTokenNotFoundError();
      if (d.kind === 'grace') {
        const succ = openSuccessor(token, d.sealed);
        if (succ) {
          const s = await this.lookup(hashSessionId(succ.sessionId));
          const view = s ? this.view(s, now) : null;
          if (!view) throw new SessionNotFoundError();
          return { id: succ.sessionId, view, loginToken: succ.token };
        }
      }
      if (d.kind !== 'resume') {
        await this.revokeFamily(f, 'TOKEN_REUSED');
        throw new LoginTokenReusedError();
      }
      const fam = f.family;
      requireSite(policy, fam.site);
      if (!policy.persistentTypes.has(fam.clientType)) throw new PersistentLoginNotAllowedError(fam.clientType);
      const c = client ?? { ip: '', userAgent: '' };
      const bind = fam.bind;
      if (bind?.ip && !c.ip) throw new InvalidFieldError('client.ip', 'required: the login was bound to it');
      if (bind?.userAgent && !c.userAgent) throw new InvalidFieldError('client.user_agent', 'required: the login was bound to it');
      const id = generateSessionId();
      const hash = hashSessionId(id);
      const next = generateLoginToken();
      const nextHash = hashLoginToken(next);
      const rec = newSessionRecord({
        site: fam.site,
        user: fam.user,
        clientType: fam.clientType,
        deviceId: fam.deviceId,
        policy: sessionPolicyFor(policy, fam.clientType),
        attributeNames: [],
        now,
        binding: bindingFor(c, !!bind?.ip, !!bind?.userAgent),
      });
      const write: LoginTokenWrite = {
        familyId: f.id,
        expectMod: f.version,
        tokenHash: nextHash,
        family: rotated(fam, nextHash, sealSuccessor(token, { token: next, sessionId: id }), hash, now),
      };
      try {
        const view = await this.storeLogin(policy, hash, { ...rec, loginFamily: f.id }, new Map(), now, write);
        return { id, view, loginToken: next };
      } catch (err) {
        // A racing resume or revoke changed the family: decide again (grace, reuse or revoked).
        if (!(err instanceof LoginFamilyChangedError)) throw err;
      }
    }
    throw new ConcurrentUpdateError();
  }

  /**
   * Revokes a token family: marks it revoked (every token of it is dead) by compare-and-swap, then ends
   * every session created from it, following re-authentications. A resume racing the mark fails its
   * own compare on the family, so no session escapes. Returns how many sessions ended.
   */
  private async revokeFamily(f: StoredFamily | null, reason: EndReason, except?: string): Promise<number> {
    const families = this.families();
    let cur = f;
    for (let i = 0; cur && cur.family.revokedAt === undefined; i++) {
      if (await families.revoke(cur, reason, this.deps.clock.now())) break;
      if (i + 1 >= this.maxCas * 8) throw new ConcurrentUpdateError();
      cur = await families.get(cur.id);
    }
    if (!cur) return 0;
    let n = 0;
    for (const h of cur.family.sessions) {
      if (h !== except && (await endLineage(this.lineage, h, reason))) n++;
    }
    return n;
  }

  /** Revokes the family with this id, if any (see revokeFamily). */
  private async revokeFamilyById(familyId: string, reason: EndReason, except?: string): Promise<number> {
    if (!this.deps.families) return 0;
    return this.revokeFamily(await this.deps.families.get(familyId), reason, except);
  }

  /**
   * Lists the user's sessions at the site through one of their live session ids (ListMySessions,
   * SPEC rule 20): exactly that user's live sessions there, `current` set on the caller's own.
   */
  async listMine(id: string, client?: ClientInfo): Promise<MySessionView[]> {
    const { s } = await this.liveSession(id, client);
    const now = this.deps.clock.now();
    const out: MySessionView[] = [];
    for (const h of await this.deps.store.userSessions(s.rec.site, s.rec.user)) {
      const other = h === s.hash ? s : await this.lookup(h);
      const view = other ? this.view(other, now) : null;
      if (!view || view.rec.site !== s.rec.site || view.rec.user !== s.rec.user) continue;
      out.push({
        view,
        present: this.deps.presence.hasConnection(h) || this.deps.presenceMirror.hasPresence(h),
        persistent: !!view.rec.loginFamily,
        current: h === s.hash,
      });
    }
    return out;
  }

  /**
   * Ends the user's other sessions, all of them, or one by handle (EndMySessions, SPEC rule 20), with
   * the guarantees of an admin revoke: the user's revocation marker rounds (no racing login or
   * re-authentication escapes) and the token families of the ended sessions revoked, so no device
   * resumes. Returns how many sessions ended.
   */
  async endMine(id: string, scope: MySessionsScope, handle: string, client?: ClientInfo): Promise<number> {
    const { s } = await this.liveSession(id, client);
    const { site, user } = s.rec;
    if (scope === 'ONE') {
      requireName('handle', handle);
      const target = (await this.deps.store.userSessions(site, user)).find((h) => handleOf(h) === handle);
      if (!target) throw new SessionHandleNotFoundError();
      const family = (target === s.hash ? s : (await this.deps.store.get(target)).session)?.rec.loginFamily;
      let n = (await endLineage(this.lineage, target, 'LOGGED_OUT')) ? 1 : 0;
      if (family) n += await this.revokeFamilyById(family, 'LOGGED_OUT');
      return n;
    }
    const keep = scope === 'OTHERS' ? s.hash : undefined;
    let n = 0;
    if (this.deps.families) {
      for (const fid of await this.deps.families.ofUser(site, user)) {
        if (keep && fid === s.rec.loginFamily) continue;
        n += await this.revokeFamilyById(fid, 'LOGGED_OUT', keep);
      }
    }
    const ended = await this.deps.store.revokeUser(site, user, { ...(keep ? { keep } : {}), reason: 'LOGGED_OUT' });
    for (const e of ended) this.afterEnd(e.s, e.reason, true);
    return n + ended.length;
  }

  private count(verdict: Verdict): Verdict {
    this.stats.verdicts[verdict]++;
    this.deps.events?.emit('verdict', verdict);
    return verdict;
  }

  /** Resolves the secret id of a request: the ticket, or the id derived from a CLIENT_ADDRESS. */
  private idOf(req: RequestIdentity): string {
    if (req.idMode !== 'CLIENT_ADDRESS') {
      requireSessionId(req.sessionId);
      return req.sessionId;
    }
    if (!this.options.idKey) throw new IdModeDisabledError();
    requireName('site', req.site ?? '');
    requireName('client.ip', req.client?.ip ?? '');
    requireName('client.user_agent', req.client?.userAgent ?? '');
    return deriveClientAddressId(this.options.idKey, req.site!, req.client!.ip, req.client!.userAgent);
  }

  /** Checks a request's session (ValidateSession): counts a hit and renews the idle timer. */
  async validate(req: RequestIdentity | string): Promise<ValidateResult> {
    return this.validateNow(req);
  }

  /**
   * ValidateSession as the transport calls it: a cache hit is answered synchronously (no promise, no
   * I/O); a miss or an exact (compare-and-swapped) hit returns a promise. `checkSite`, when given, is
   * called with the found session's site before anything is counted or written (SPEC rule 21), so
   * the caller's site check costs no second lookup.
   */
  validateNow(req: RequestIdentity | string, checkSite?: (site: string) => void): ValidateResult | Promise<ValidateResult> {
    const identity = typeof req === 'string' ? { sessionId: req } : req;
    const id = this.idOf(identity);
    const hash = hashSessionId(id);
    const hit = this.lookupHit(hash);
    if (hit) return this.validateFound(hit, id, identity.client, checkSite);
    return this.lookupMiss(hash).then((s) => (s ? this.validateFound(s, id, identity.client, checkSite) : { verdict: this.count('NOT_FOUND') }));
  }

  /** Validates a session the lookup found: site check, then the exact (CAS) or the coalesced path. */
  private validateFound(s: StoredSession, id: string, client: ClientInfo | undefined, checkSite: ((site: string) => void) | undefined): ValidateResult | Promise<ValidateResult> {
    if (checkSite) checkSite(s.rec.site);
    if (needsExactHit(s.rec)) {
      const present = (bound: Binding) => presentedBinding(bound, id, client);
      return this.exact.run(s.hash, () => this.validateExact(s.hash, present));
    }
    return this.validateCoalesced(s, presentedBinding(s.rec.binding, id, client));
  }

  /** Validate with the hit kept in memory and written behind (SPEC rule 15): the common case. */
  private validateCoalesced(s: StoredSession, presented: Binding): ValidateResult {
    const now = this.deps.clock.now();
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const conn = this.connectionOf(s);
    const out = decideValidate(rec, now, conn, presented);
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict !== 'VALID' || !out.activity) return { verdict: this.count(out.verdict) };
    this.deps.touches.record(s, out.activity);
    // The decision already established the session is live: build the answer without judging again.
    // withActivity made a private copy when local activity was newer; only the stored record is shared.
    const next: SessionRecord = rec === s.rec ? { ...rec, ...out.activity } : Object.assign(rec as { lastAccessAt: number; hits: number }, out.activity) as SessionRecord;
    return { verdict: this.count('VALID'), view: { hash: s.hash, rec: next, state: 'ACTIVE', idleDeadline: idleDeadline(next, conn).at } };
  }

  /**
   * Validate under a hit maximum or in the single-request regime: every such hit is written with a
   * compare-and-swap, so the count is exact cluster-wide (at most two writes per session without a maximum).
   */
  private async validateExact(hash: string, present: (bound: Binding) => Binding): Promise<ValidateResult> {
    // Re-read under the lock: the previous holder may just have moved the record on.
    let s: StoredSession | null = this.deps.cache.get(hash) ?? (await this.deps.store.get(hash)).session;
    for (let i = 0; i < this.maxExact && s; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 2 * i))); // jitter breaks lockstep
      // Another node wrote the second hit meanwhile: from here hits are coalesced again.
      if (!needsExactHit(s.rec)) return this.validateCoalesced(s, present(s.rec.binding));
      const now = this.deps.clock.now();
      const out = decideValidate(s.rec, now, this.connectionOf(s), present(s.rec.binding));
      if (out.endReason) {
        if (this.mayEnd(s, out.endReason)) await this.endSession(s, out.endReason);
        return { verdict: this.count(out.verdict) };
      }
      if (out.verdict !== 'VALID' || !out.activity) return { verdict: this.count(out.verdict) };
      const next = { ...s.rec, ...out.activity };
      let r: CasResult;
      try {
        r = await this.deps.store.update(s, next, this.deps.touches.ttlFor(next));
      } catch (err) {
        // Without a hit maximum the exact write only sharpens the single-request timeout: when etcd
        // refuses writes (no leader, over quota) the hit is coalesced as before rather than refused.
        if (s.rec.policy.hitMax > 0 || !(err instanceof StoreUnavailableError || err instanceof StoreQuotaExceededError)) throw err;
        return this.validateCoalesced(s, present(s.rec.binding));
      }
      if (r.ok) {
        this.deps.cache.upsert(r.session);
        return { verdict: this.count('VALID'), view: this.view(r.session, now) ?? undefined };
      }
      s = r.current;
      if (s) this.deps.cache.upsert(s);
    }
    if (!s) return { verdict: this.count('NOT_FOUND') };
    throw new ConcurrentUpdateError();
  }

  /** Keeps a session alive without counting a hit, and marks the instance present (Heartbeat). */
  async heartbeat(id: string, instanceId: string, client?: ClientInfo): Promise<Verdict> {
    return this.heartbeatNow(id, instanceId, client);
  }

  /**
   * Heartbeat as the transport calls it: synchronous on a cache hit, a promise on a miss; `checkSite`
   * as in validateNow.
   */
  heartbeatNow(id: string, instanceId: string, client?: ClientInfo, checkSite?: (site: string) => void): Verdict | Promise<Verdict> {
    requireSessionId(id);
    requireName('instance_id', instanceId);
    const hash = hashSessionId(id);
    const hit = this.lookupHit(hash);
    if (hit) return this.heartbeatFound(hit, id, instanceId, client, checkSite);
    return this.lookupMiss(hash).then((s) => (s ? this.heartbeatFound(s, id, instanceId, client, checkSite) : 'NOT_FOUND'));
  }

  /** Heartbeats a session the lookup found (site check first); never waits. */
  private heartbeatFound(s: StoredSession, id: string, instanceId: string, client: ClientInfo | undefined, checkSite: ((site: string) => void) | undefined): Verdict {
    if (checkSite) checkSite(s.rec.site);
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const out = decideHeartbeat(rec, this.deps.clock.now(), this.connectionOf(s), presentedBinding(rec.binding, id, client));
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict === 'VALID' && out.activity) {
      this.deps.touches.record(s, out.activity);
      this.deps.presence.heartbeat(s.hash, instanceId);
    }
    return out.verdict;
  }

  /** Reads a session without touching it (GetSession). */
  async get(id: string, client?: ClientInfo): Promise<SessionView> {
    return (await this.liveSession(id, client)).view;
  }

  /** Logs out (EndSession): the session and its data are gone at once, cluster-wide. */
  async end(id: string, forgetLogin = false, client?: ClientInfo): Promise<void> {
    requireSessionId(id);
    const hash = hashSessionId(id);
    const s = await this.lookup(hash);
    // A bound ticket held by someone else cannot log its owner out either.
    if (s) requireBinding(s.rec, id, client);
    if (forgetLogin && s?.rec.loginFamily) {
      // "Forget this device": the family's tokens die and its sessions (this one included) end.
      await this.revokeFamilyById(s.rec.loginFamily, 'LOGGED_OUT');
      if (!(await this.endSession(s, 'LOGGED_OUT')) && (await this.deps.store.get(hash)).session) throw new ConcurrentUpdateError();
      return;
    }
    if (s && (await this.endSession(s, 'LOGGED_OUT'))) return;
    // Gone or changed meanwhile: a racing Reauthenticate may have moved it to a new id (revocation.ts).
    if (!(await endLineage(this.lineage, hash, 'LOGGED_OUT', LOGOUT_FOLLOW_WINDOW_MS))) throw new SessionNotFoundError();
  }

  /** Ends a stored session for a reason (logout, revoke, expiry found on access). */
  async endSession(s: StoredSession, reason: EndReason): Promise<boolean> {
    return this.endings.run(s.hash, async () => {
      const ended = await this.deps.store.end(s, reason);
      this.afterEnd(s, reason, ended);
      return ended;
    });
  }

  /** Local bookkeeping after a session ended (by this node or, for `counted`, reported by it). */
  afterEnd(s: StoredSession, reason: EndReason, counted: boolean): void {
    this.deps.cache.forget(s.hash, s.incarnation);
    this.deps.touches.forget(s.hash);
    this.deps.presence.forget(s.hash);
    if (counted) {
      this.stats.ended[reason] = (this.stats.ended[reason] ?? 0) + 1;
      this.deps.events?.emit('session-ended', s.rec.site, s.rec.clientType, reason);
    }
  }

  private endInBackground(s: StoredSession, reason: EndReason): void {
    // Frees an expired session's keys early; correctness never depends on it (SPEC rule 1).
    if (!this.mayEnd(s, reason)) return;
    this.endSession(s, reason).catch(() => {});
  }

  /** Whether this node may end `s` for everyone now: a timeout waits cluster.max-clock-skew past its deadline. */
  private mayEnd(s: StoredSession, reason: EndReason): boolean {
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    return mayEndForEveryone(rec, reason, this.deps.clock.now(), this.deps.config.current().policy.maxClockSkewMs, this.connectionOf(s));
  }

  /**
   * Re-authenticates (SPEC rule 3): same user, data kept, fresh absolute window, and a new id — the
   * old one stops working at once on every node (no session fixation).
   */
  async reauthenticate(id: string, user: string, client?: ClientInfo): Promise<{ id: string; view: SessionView }> {
    requireName('user', user);
    let { s } = await this.liveSession(id, client);
    if (s.rec.user !== user) throw new UserMismatchError();
    const newId = generateSessionId();
    const newHash = hashSessionId(newId);
    for (let i = 0; i < this.maxCas; i++) {
      const now = this.deps.clock.now();
      const base = withActivity(s.rec, this.deps.touches.activity(s));
      const next: SessionRecord = {
        ...base,
        state: 'ACTIVE',
        lastAccessAt: now,
        absoluteDeadline: base.policy.absoluteMs > 0 ? now + base.policy.absoluteMs : 0,
        // The bindings follow the session to its new id (the client was checked against them above).
        binding: carriedBinding(base.binding, client),
      };
      const created = await this.deps.store.reauthenticate(s, newHash, next, this.deps.touches.ttlFor(next));
      if (created) {
        this.deps.cache.upsert(created);
        this.afterEnd(s, 'LOGGED_OUT', false);
        const view = this.view(created, now);
        if (!view) throw new SessionNotFoundError();
        return { id: newId, view };
      }
      const fresh = (await this.deps.store.get(s.hash)).session;
      if (!fresh) throw new SessionNotFoundError();
      this.deps.cache.upsert(fresh);
      s = fresh;
    }
    throw new ConcurrentUpdateError();
  }

  /**
   * Opens a connection (Attach, SPEC rule 6): publishes presence under the node lease and marks the
   * record attached. The returned detach() records when the last connection anywhere went.
   */
  async attach(id: string, instanceId: string, client?: ClientInfo): Promise<Attachment> {
    requireName('instance_id', instanceId);
    const { s } = await this.liveSession(id, client);
    const hash = s.hash;
    if (!(await this.deps.presence.attach(hash))) throw new SessionNotFoundError();
    await this.setConnectionLost(hash, 0);
    let detached = false;
    return {
      hash,
      detach: async () => {
        if (detached) return;
        detached = true;
        const noneHere = await this.deps.presence.detach(hash);
        if (noneHere && !this.deps.presenceMirror.hasConnectionElsewhere(hash, this.options.nodeId)) {
          await this.setConnectionLost(hash, this.deps.clock.now());
        }
      },
    };
  }

  /**
   * Writes a connection-bound record's connectionLostAt (0 = attached), with compare-and-swap retries.
   * One write per session at a time: a burst of attaches of one session costs one etcd write.
   */
  private setConnectionLost(hash: string, at: number): Promise<void> {
    return this.connectionWrites.run(hash, async () => {
      for (let i = 0; i < this.maxCas; i++) {
        const s = this.deps.cache.get(hash) ?? (await this.deps.store.get(hash)).session;
        if (!s || s.rec.policy.idleMs !== IDLE_CONNECTION_BOUND) return;
        if ((at === 0) === (s.rec.connectionLostAt === 0)) return;
        const written = await this.deps.store.setConnectionLost(s, at);
        if (written) {
          this.deps.cache.upsert(written);
          return;
        }
        const fresh = (await this.deps.store.get(hash)).session;
        if (fresh) this.deps.cache.upsert(fresh);
      }
      throw new ConcurrentUpdateError();
    });
  }

  /** Ends sessions by reference (admin revoke); returns how many ended. */
  async revoke(refs: readonly string[]): Promise<number> {
    let n = 0;
    for (const hash of refs) {
      const family = this.deps.families ? (await this.deps.store.get(hash)).session?.rec.loginFamily : undefined;
      // Follows re-authentications to the session's current id, so a racing one cannot evade it.
      if (await endLineage(this.lineage, hash, 'REVOKED')) n++;
      // The device must not resume the revoked login: its token family goes too.
      if (family) n += await this.revokeFamilyById(family, 'REVOKED');
    }
    return n;
  }

  /** Ends every session of a user at a site (RevokeUserSessions); no racing login or re-authentication escapes. */
  async revokeUser(site: string, user: string): Promise<number> {
    // Token families first: a resume racing this fails its compare on the family or the revocation marker.
    let n = 0;
    if (this.deps.families) for (const fid of await this.deps.families.ofUser(site, user)) n += await this.revokeFamilyById(fid, 'REVOKED');
    const ended = await this.deps.store.revokeUser(site, user);
    for (const e of ended) this.afterEnd(e.s, e.reason, true);
    return n + ended.length;
  }

  /** What endLineage works with: the store and this service's end bookkeeping. */
  private readonly lineage = {
    store: (): SessionStore => this.deps.store,
    end: (s: StoredSession, reason: EndReason): Promise<boolean> => this.endSession(s, reason),
    now: (): number => this.deps.clock.now(),
  };

  /** Reads one attribute (GetAttribute). */
  async getAttribute(id: string, name: string, client?: ClientInfo): Promise<StoredAttribute> {
    requireName('attribute name', name);
    const { s } = await this.liveSession(id, client);
    const attr = await this.deps.store.getAttribute(s.hash, name);
    if (!attr) throw new AttributeNotFoundError(name);
    return attr;
  }

  /** Writes one attribute (SetAttribute); returns its new etag. */
  async setAttribute(id: string, name: string, value: Uint8Array, cond: AttributeCondition, client?: ClientInfo): Promise<string> {
    const { policy } = this.deps.config.current();
    requireAttribute(policy, name, value);
    let { s } = await this.liveSession(id, client);
    const etag = generateEtag();
    for (let i = 0; i < this.maxCas; i++) {
      if (!s.rec.attributeNames.includes(name) && s.rec.attributeNames.length >= policy.attributeMaxCount) {
        throw new TooManyAttributesError(policy.attributeMaxCount);
      }
      const r = await this.deps.store.setAttribute(s, name, value, etag, cond);
      if (r.ok) {
        this.deps.cache.upsert(r.session);
        return etag;
      }
      if (!r.current) throw new SessionNotFoundError();
      this.deps.cache.upsert(r.current);
      s = r.current;
    }
    throw new ConcurrentUpdateError();
  }

  /** Deletes one attribute (DeleteAttribute). */
  async deleteAttribute(id: string, name: string, cond: AttributeCondition, client?: ClientInfo): Promise<void> {
    requireName('attribute name', name);
    let { s } = await this.liveSession(id, client);
    for (let i = 0; i < this.maxCas; i++) {
      if (!s.rec.attributeNames.includes(name)) throw new AttributeNotFoundError(name);
      const r = await this.deps.store.deleteAttribute(s, name, cond);
      if (r.ok) {
        this.deps.cache.upsert(r.session);
        return;
      }
      if (!r.current) throw new SessionNotFoundError();
      this.deps.cache.upsert(r.current);
      s = r.current;
    }
    throw new ConcurrentUpdateError();
  }

  /** Items for the scavenger: every mirrored session that has ended by now, with its reason, and how many were examined. */
  endedSessions(now: number): { items: EndItem[]; scanned: number } {
    const out: EndItem[] = [];
    let scanned = 0;
    for (const s of this.deps.cache.values()) {
      scanned++;
      const rec = withActivity(s.rec, this.deps.touches.activity(s));
      const st = standing(rec, now, this.connectionOf(s));
      if (st.kind === 'ENDED') out.push({ s, reason: st.reason });
    }
    return { items: out, scanned };
  }
}
