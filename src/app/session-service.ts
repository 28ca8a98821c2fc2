import type { Clock } from '../domain/clock.js';
import type { ClientType } from '../domain/client-type.js';
import { decideHeartbeat, decideValidate, idleDeadline, standing, withActivity, type Connection, type Verdict } from '../domain/decisions.js';
import {
  AttributeNotFoundError,
  ConcurrentUpdateError,
  IdModeDisabledError,
  InvalidFieldError,
  SessionExistsError,
  SessionNotFoundError,
  TooManyAttributesError,
  UserMismatchError,
} from '../domain/errors.js';
import { planLogin } from '../domain/login.js';
import { IDLE_CONNECTION_BOUND, sessionPolicyFor } from '../domain/policy.js';
import type { AttributeCondition, CasResult, EndItem, SessionStore, StoredAttribute, StoredSession } from '../domain/ports.js';
import { newSessionRecord, type Binding, type EndReason, type LiveState, type SessionRecord } from '../domain/session.js';
import { mayEndForEveryone } from '../domain/skew.js';
import type { PresenceChannel } from '../cache/presence-channel.js';
import type { SessionCache } from '../cache/session-cache.js';
import type { ConfigSource } from '../config/loader.js';
import type { PresenceStore } from '../store/etcd/presence-store.js';
import { bindingHash, deriveClientAddressId, generateEtag, generateSessionId, hashSessionId } from './ids.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { NodeEvents } from './node-events.js';
import type { PresenceTracker } from './presence.js';
import { SingleFlight } from './single-flight.js';
import type { TouchWriter } from './touch-writer.js';
import { requireAttribute, requireAttributes, requireClientType, requireName, requireSessionId, requireSite } from './validation.js';

/** What the service needs to know about the mirror's freshness (the WatchFeed). */
export interface FreshnessGate {
  /** Throws CacheStaleError / NotServingError when the mirror must not be trusted. */
  assertFresh(): void;
  /** The revision up to which the mirror holds every change. */
  readonly revision: number;
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

/** The end user's connection as the calling service reports it. */
export interface ClientInfo {
  ip: string;
  userAgent: string;
}

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
}

/** What identifies the session of a validated request: a ticket, or a CLIENT_ADDRESS site + client. */
export interface RequestIdentity {
  sessionId: string;
  idMode?: IdMode;
  site?: string;
  client?: ClientInfo;
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
}

/**
 * SessionService holds the use cases of SessionService's RPCs: it checks input, answers from the
 * watch-fed mirror when fresh (etcd once, single-flight, on a miss), decides with the pure domain
 * functions and writes through the store port.
 */
export class SessionService {
  private readonly loads = new SingleFlight<StoredSession | null>();
  private readonly endings = new SingleFlight<boolean>();
  private readonly exact = new KeyedMutex();
  private readonly connectionWrites = new KeyedMutex();
  private readonly maxCas: number;
  private readonly maxExact: number;
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
  }

  /** Finds a session: from the mirror when it holds it, else one linearizable etcd read per id at a time. */
  async lookup(hash: string): Promise<StoredSession | null> {
    this.deps.feed.assertFresh();
    const hit = this.deps.cache.get(hash);
    if (hit) {
      this.stats.cacheHits++;
      return hit;
    }
    this.stats.cacheMisses++;
    return this.loads.run(hash, async () => {
      const { session, revision } = await this.deps.store.get(hash);
      // Only cache what the watch cannot have overtaken: a delete the watch already delivered
      // before this read came back would otherwise resurrect the session here.
      if (session && revision >= this.deps.feed.revision) this.deps.cache.upsert(session);
      return session;
    });
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

  private async liveSession(id: string): Promise<{ s: StoredSession; view: SessionView }> {
    requireSessionId(id);
    const s = await this.lookup(hashSessionId(id));
    const view = s ? this.view(s, this.deps.clock.now()) : null;
    if (!s || !view) throw new SessionNotFoundError();
    return { s, view };
  }

  /** Logs a user in (CreateSession), applying one-session-per-user, per-user limits and the session cap. */
  async create(input: CreateInput): Promise<{ id: string; view: SessionView }> {
    const { policy } = this.deps.config.current();
    requireSite(policy, input.site);
    requireName('user', input.user);
    const clientType: ClientType = requireClientType(input.clientType);
    requireName('device_id', input.deviceId);
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
    const binding: Binding = {
      ipHash: input.bindIp ? bindingHash(id, 'ip', client.ip) : '',
      userAgentHash: input.bindUserAgent ? bindingHash(id, 'ua', client.userAgent) : '',
    };
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
    const { session, ended } = await this.deps.store.login({
      hash,
      rec,
      attributes: input.attributes,
      etags: new Map([...input.attributes.keys()].map((n) => [n, generateEtag()])),
      ttlMs: this.deps.touches.ttlFor(rec),
      plan: (existing) =>
        planLogin(
          policy,
          clientType,
          input.deviceId,
          // A connection this node holds is presence even before its key is visible elsewhere.
          existing.map((e) => ({ ...e, present: e.present || this.deps.presence.hasConnection(e.hash) })),
        ),
      maxSessions: policy.maxSessions,
      userRules: policy.singlePerUser.has(clientType) || policy.limitPerUser[clientType] > 0,
    });
    this.deps.cache.upsert(session);
    for (const e of ended) this.afterEnd(e.s, e.reason, true);
    this.stats.created++;
    this.deps.events?.emit('session-created', rec.site, rec.clientType);
    const st = standing(rec, now, this.connectionOf(session));
    return { id, view: { hash, rec, state: 'ACTIVE', idleDeadline: st.kind === 'ENDED' ? now : st.idleDeadline } };
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
  async validate(req: RequestIdentity | string): Promise<{ verdict: Verdict; view?: SessionView }> {
    const identity = typeof req === 'string' ? { sessionId: req } : req;
    const id = this.idOf(identity);
    const presented: Binding = {
      ipHash: identity.client?.ip ? bindingHash(id, 'ip', identity.client.ip) : '',
      userAgentHash: identity.client?.userAgent ? bindingHash(id, 'ua', identity.client.userAgent) : '',
    };
    const hash = hashSessionId(id);
    const s = await this.lookup(hash);
    if (!s) return { verdict: this.count('NOT_FOUND') };
    if (s.rec.policy.hitMax > 0) return this.exact.run(hash, () => this.validateExact(hash, presented));
    const now = this.deps.clock.now();
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const conn = this.connectionOf(s);
    const out = decideValidate(rec, now, conn, presented);
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict !== 'VALID' || !out.activity) return { verdict: this.count(out.verdict) };
    this.deps.touches.record(s, out.activity);
    // The decision already established the session is live: build the answer without judging again.
    const next = { ...rec, ...out.activity };
    return { verdict: this.count('VALID'), view: { hash, rec: next, state: 'ACTIVE', idleDeadline: idleDeadline(next, conn).at } };
  }

  /** Validate under a hit maximum: every hit is written with a compare-and-swap, so the count is exact cluster-wide. */
  private async validateExact(hash: string, presented: Binding): Promise<{ verdict: Verdict; view?: SessionView }> {
    // Re-read under the lock: the previous holder may just have moved the record on.
    let s: StoredSession | null = this.deps.cache.get(hash) ?? (await this.deps.store.get(hash)).session;
    for (let i = 0; i < this.maxExact && s; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 2 * i))); // jitter breaks lockstep
      const now = this.deps.clock.now();
      const out = decideValidate(s.rec, now, this.connectionOf(s), presented);
      if (out.endReason) {
        if (this.mayEnd(s, out.endReason)) await this.endSession(s, out.endReason);
        return { verdict: this.count(out.verdict) };
      }
      if (out.verdict !== 'VALID' || !out.activity) return { verdict: this.count(out.verdict) };
      const next = { ...s.rec, ...out.activity };
      const r: CasResult = await this.deps.store.update(s, next, this.deps.touches.ttlFor(next));
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
  async heartbeat(id: string, instanceId: string): Promise<Verdict> {
    requireSessionId(id);
    requireName('instance_id', instanceId);
    const s = await this.lookup(hashSessionId(id));
    if (!s) return 'NOT_FOUND';
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const out = decideHeartbeat(rec, this.deps.clock.now(), this.connectionOf(s));
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict === 'VALID' && out.activity) {
      this.deps.touches.record(s, out.activity);
      this.deps.presence.heartbeat(s.hash, instanceId);
    }
    return out.verdict;
  }

  /** Reads a session without touching it (GetSession). */
  async get(id: string): Promise<SessionView> {
    return (await this.liveSession(id)).view;
  }

  /** Logs out (EndSession): the session and its data are gone at once, cluster-wide. */
  async end(id: string): Promise<void> {
    requireSessionId(id);
    const s = await this.lookup(hashSessionId(id));
    if (!s || !(await this.endSession(s, 'LOGGED_OUT'))) throw new SessionNotFoundError();
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
    this.deps.cache.delete(s.hash, Number.MAX_SAFE_INTEGER);
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
  async reauthenticate(id: string, user: string): Promise<{ id: string; view: SessionView }> {
    requireName('user', user);
    let { s } = await this.liveSession(id);
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
  async attach(id: string, instanceId: string): Promise<Attachment> {
    requireName('instance_id', instanceId);
    const { s } = await this.liveSession(id);
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
        const written = await this.deps.presenceStore.markLost(s, at);
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
      const s = this.deps.cache.get(hash) ?? (await this.deps.store.get(hash)).session;
      if (s && (await this.endSession(s, 'REVOKED'))) n++;
    }
    return n;
  }

  /** Reads one attribute (GetAttribute). */
  async getAttribute(id: string, name: string): Promise<StoredAttribute> {
    requireName('attribute name', name);
    const { s } = await this.liveSession(id);
    const attr = await this.deps.store.getAttribute(s.hash, name);
    if (!attr) throw new AttributeNotFoundError(name);
    return attr;
  }

  /** Writes one attribute (SetAttribute); returns its new etag. */
  async setAttribute(id: string, name: string, value: Uint8Array, cond: AttributeCondition): Promise<string> {
    const { policy } = this.deps.config.current();
    requireAttribute(policy, name, value);
    let { s } = await this.liveSession(id);
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
  async deleteAttribute(id: string, name: string, cond: AttributeCondition): Promise<void> {
    requireName('attribute name', name);
    let { s } = await this.liveSession(id);
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
