import type { Clock } from '../domain/clock.js';
import type { ClientType } from '../domain/client-type.js';
import { decideHeartbeat, decideValidate, standing, withActivity, type Verdict } from '../domain/decisions.js';
import {
  AttributeNotFoundError,
  ConcurrentUpdateError,
  SessionNotFoundError,
  TooManyAttributesError,
} from '../domain/errors.js';
import { sessionPolicyFor } from '../domain/policy.js';
import type { AttributeCondition, CasResult, SessionStore, StoredAttribute, StoredSession } from '../domain/ports.js';
import { newSessionRecord, type EndReason, type LiveState, type SessionRecord } from '../domain/session.js';
import type { SessionCache } from '../cache/session-cache.js';
import type { ConfigSource } from '../config/loader.js';
import { generateEtag, generateSessionId, hashSessionId } from './ids.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { NodeEvents } from './node-events.js';
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

/** Input of a login. */
export interface CreateInput {
  site: string;
  user: string;
  clientType: string;
  deviceId: string;
  attributes: ReadonlyMap<string, Uint8Array>;
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
  /** Attempts of a compare-and-swap loop before giving up with CONCURRENT_UPDATE. Default 8. */
  maxCasAttempts?: number;
  /** Attempts of an exact hit-count write, which races every node serving the session. Default 64. */
  maxExactAttempts?: number;
}

/** Called when a session ends, with its reason (telemetry and, later, the event stream). */
export type EndListener = (rec: SessionRecord, reason: EndReason) => void;

/**
 * SessionService holds the use cases of SessionService's RPCs: it checks input, answers from the
 * watch-fed mirror when fresh (etcd once, single-flight, on a miss), decides with the pure domain
 * functions and writes through the store port.
 */
export class SessionService {
  private readonly loads = new SingleFlight<StoredSession | null>();
  private readonly endings = new SingleFlight<boolean>();
  private readonly exact = new KeyedMutex();
  private readonly maxCas: number;
  private readonly maxExact: number;
  private readonly endListeners: EndListener[] = [];
  readonly stats: ServiceStats = {
    cacheHits: 0,
    cacheMisses: 0,
    verdicts: { VALID: 0, NOT_FOUND: 0, EXPIRED: 0, REAUTH_REQUIRED: 0, HIT_LIMIT: 0, BINDING_MISMATCH: 0 },
    created: 0,
    ended: {},
  };

  constructor(
    private readonly deps: {
      store: SessionStore;
      cache: SessionCache;
      feed: FreshnessGate;
      config: ConfigSource;
      clock: Clock;
      touches: TouchWriter;
      events?: NodeEvents;
    },
    options: SessionServiceOptions = {},
  ) {
    this.maxCas = options.maxCasAttempts ?? 8;
    if (!(this.maxCas >= 1)) throw new Error('session-service: maxCasAttempts must be at least 1');
    this.maxExact = options.maxExactAttempts ?? 64;
    if (!(this.maxExact >= 1)) throw new Error('session-service: maxExactAttempts must be at least 1');
  }

  /** Registers a listener told of every session this node ends. */
  onEnd(listener: EndListener): void {
    this.endListeners.push(listener);
  }

  /** Finds a session: from the mirror when it holds it, else one linearizable etcd read per id at a time. */
  private async lookup(hash: string): Promise<StoredSession | null> {
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

  private view(s: StoredSession, now: number): SessionView | null {
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const st = standing(rec, now);
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

  /** Logs a user in (CreateSession). */
  async create(input: CreateInput): Promise<{ id: string; view: SessionView }> {
    const { policy } = this.deps.config.current();
    requireSite(policy, input.site);
    requireName('user', input.user);
    const clientType: ClientType = requireClientType(input.clientType);
    requireName('device_id', input.deviceId);
    requireAttributes(policy, input.attributes);
    const now = this.deps.clock.now();
    const id = generateSessionId();
    const hash = hashSessionId(id);
    const rec = newSessionRecord({
      site: input.site,
      user: input.user,
      clientType,
      deviceId: input.deviceId,
      policy: sessionPolicyFor(policy, clientType),
      attributeNames: [...input.attributes.keys()],
      now,
    });
    const etags = new Map([...input.attributes.keys()].map((n) => [n, generateEtag()]));
    const stored = await this.deps.store.create(hash, rec, input.attributes, etags, this.deps.touches.ttlFor(rec));
    this.deps.cache.upsert(stored);
    this.stats.created++;
    this.deps.events?.emit('session-created', rec.site, rec.clientType);
    const st = standing(rec, now);
    return { id, view: { hash, rec, state: 'ACTIVE', idleDeadline: st.kind === 'ENDED' ? now : st.idleDeadline } };
  }

  private count(verdict: Verdict): Verdict {
    this.stats.verdicts[verdict]++;
    this.deps.events?.emit('verdict', verdict);
    return verdict;
  }

  /** Checks a request's session (ValidateSession): counts a hit and renews the idle timer. */
  async validate(id: string): Promise<{ verdict: Verdict; view?: SessionView }> {
    requireSessionId(id);
    const hash = hashSessionId(id);
    let s = await this.lookup(hash);
    if (!s) return { verdict: this.count('NOT_FOUND') };
    if (s.rec.policy.hitMax > 0) return this.exact.run(hash, () => this.validateExact(hash));
    const now = this.deps.clock.now();
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const out = decideValidate(rec, now);
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict !== 'VALID' || !out.activity) return { verdict: this.count(out.verdict) };
    this.deps.touches.record(s, out.activity);
    s = { ...s, rec: { ...rec, ...out.activity } };
    return { verdict: this.count('VALID'), view: this.view(s, now) ?? undefined };
  }

  /** Validate under a hit maximum: every hit is written with a compare-and-swap, so the count is exact cluster-wide. */
  private async validateExact(hash: string): Promise<{ verdict: Verdict; view?: SessionView }> {
    // Re-read under the lock: the previous holder may just have moved the record on.
    let s: StoredSession | null = this.deps.cache.get(hash) ?? (await this.deps.store.get(hash)).session;
    for (let i = 0; i < this.maxExact && s; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 2 * i))); // jitter breaks lockstep
      const now = this.deps.clock.now();
      const out = decideValidate(s.rec, now);
      if (out.endReason) {
        await this.endSession(s, out.endReason);
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

  /** Keeps a session alive without counting a hit (Heartbeat). */
  async heartbeat(id: string, instanceId: string): Promise<Verdict> {
    requireSessionId(id);
    requireName('instance_id', instanceId);
    const s = await this.lookup(hashSessionId(id));
    if (!s) return this.count('NOT_FOUND');
    const rec = withActivity(s.rec, this.deps.touches.activity(s));
    const out = decideHeartbeat(rec, this.deps.clock.now());
    if (out.endReason) this.endInBackground(s, out.endReason);
    if (out.verdict === 'VALID' && out.activity) this.deps.touches.record(s, out.activity);
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

  private async endSession(s: StoredSession, reason: EndReason): Promise<boolean> {
    return this.endings.run(s.hash, async () => {
      const ended = await this.deps.store.end(s);
      this.deps.cache.delete(s.hash, Number.MAX_SAFE_INTEGER);
      this.deps.touches.forget(s.hash);
      if (ended) {
        this.stats.ended[reason] = (this.stats.ended[reason] ?? 0) + 1;
        this.deps.events?.emit('session-ended', s.rec.site, s.rec.clientType, reason);
        for (const l of this.endListeners) l(s.rec, reason);
      }
      return ended;
    });
  }

  private endInBackground(s: StoredSession, reason: EndReason): void {
    // Frees an expired session's keys early; correctness never depends on it (SPEC rule 1).
    this.endSession(s, reason).catch(() => {});
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
}
