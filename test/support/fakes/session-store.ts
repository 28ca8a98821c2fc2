import { AttributeExistsError, AttributeNotFoundError, EtagMismatchError } from '../../../src/domain/errors.js';
import type {
  AttributeCondition,
  CasResult,
  EndItem,
  FencedResult,
  LoginRequest,
  RevokeUserOptions,
  SessionStore,
  StoredAttribute,
  StoredSession,
} from '../../../src/domain/ports.js';
import type { EndReason, SessionRecord } from '../../../src/domain/session.js';
import { UnexpectedCallError } from './strict.js';

/**
 * An in-memory SessionStore with opaque versions (one counter for every write), enough of etcd's
 * semantics for the app's use cases: compare-and-swap on the version, ends by incarnation,
 * re-authentication pointers, attributes with etags. `beforeWrite` lets a test play another node
 * that writes the record just before this node's compare (a CAS conflict).
 */
export class MemorySessionStore implements SessionStore {
  private rev = 0;
  readonly sessions = new Map<string, StoredSession>();
  readonly attributes = new Map<string, Map<string, StoredAttribute>>();
  readonly successors = new Map<string, { to: string; at: number }>();
  readonly ended: Array<{ hash: string; reason: EndReason }> = [];
  /** The ttl of the last write. */
  lastTtlMs = -1;
  /** Called before every compare-and-swap with the hash it compares on. */
  beforeWrite: (hash: string) => void = () => {};
  /** Wall clock for successor pointers. */
  now: () => number = () => 0;

  /** Stores a session directly (test setup); returns it with its versions. */
  put(hash: string, rec: SessionRecord): StoredSession {
    const prev = this.sessions.get(hash);
    const version = ++this.rev;
    const s: StoredSession = { hash, rec, version, incarnation: prev?.incarnation ?? version, storeTag: 'tag' };
    this.sessions.set(hash, s);
    return s;
  }

  /** Another node's write of the record: only the version moves (or `change` applies). */
  bump(hash: string, change: Partial<SessionRecord> = {}): StoredSession {
    const cur = this.sessions.get(hash);
    if (!cur) throw new Error(`bump: no session ${hash}`);
    return this.put(hash, { ...cur.rec, ...change });
  }

  has(hash: string): boolean {
    return this.sessions.has(hash);
  }

  /** The compare-and-swap every write goes through. */
  casWrite(prev: StoredSession, next: SessionRecord): CasResult {
    this.beforeWrite(prev.hash);
    const cur = this.sessions.get(prev.hash);
    if (!cur || cur.version !== prev.version) return { ok: false, current: cur ?? null };
    return { ok: true, session: this.put(prev.hash, next) };
  }

  private remove(s: StoredSession, reason: EndReason): void {
    this.sessions.delete(s.hash);
    this.attributes.delete(s.hash);
    this.ended.push({ hash: s.hash, reason });
  }

  async login(req: LoginRequest): Promise<{ session: StoredSession; ended: readonly EndItem[] }> {
    const ended: EndItem[] = [];
    if (req.userRules) {
      const mine = [...this.sessions.values()].filter((s) => s.rec.site === req.rec.site && s.rec.user === req.rec.user);
      const plan = req.plan(mine.map((s) => ({ hash: s.hash, clientType: s.rec.clientType, deviceId: s.rec.deviceId, createdAt: s.rec.createdAt, present: false })));
      if (plan.kind === 'refuse') throw plan.error;
      for (const e of plan.end) {
        const s = this.sessions.get(e.hash);
        if (!s) continue;
        this.remove(s, e.reason);
        ended.push({ s, reason: e.reason });
      }
    }
    this.lastTtlMs = req.ttlMs;
    const session = this.put(req.hash, req.rec);
    this.attributes.set(req.hash, new Map([...req.attributes].map(([n, v]) => [n, { value: v, etag: req.etags.get(n) ?? '' }])));
    return { session, ended };
  }

  async get(hash: string): Promise<{ session: StoredSession | null; revision: number }> {
    return { session: this.sessions.get(hash) ?? null, revision: this.rev };
  }

  async update(prev: StoredSession, next: SessionRecord, ttlMs: number): Promise<CasResult> {
    this.lastTtlMs = ttlMs;
    return this.casWrite(prev, next);
  }

  async setConnectionLost(s: StoredSession, at: number): Promise<StoredSession | null> {
    const r = this.casWrite(s, { ...s.rec, connectionLostAt: at });
    return r.ok ? r.session : null;
  }

  async end(s: StoredSession, reason: EndReason): Promise<boolean> {
    const cur = this.sessions.get(s.hash);
    if (!cur || cur.incarnation !== s.incarnation) return false;
    this.remove(cur, reason);
    return true;
  }

  async endFenced(): Promise<FencedResult> {
    throw new UnexpectedCallError('store.endFenced() (the scavenger is not under test here)');
  }

  async reauthenticate(old: StoredSession, newHash: string, next: SessionRecord, ttlMs: number): Promise<StoredSession | null> {
    this.beforeWrite(old.hash);
    const cur = this.sessions.get(old.hash);
    if (!cur || cur.version !== old.version) return null;
    this.sessions.delete(old.hash);
    this.successors.set(old.hash, { to: newHash, at: this.now() });
    this.lastTtlMs = ttlMs;
    const attrs = this.attributes.get(old.hash);
    this.attributes.delete(old.hash);
    if (attrs) this.attributes.set(newHash, attrs);
    return this.put(newHash, next);
  }

  async revokeUser(site: string, user: string, opts: RevokeUserOptions = {}): Promise<EndItem[]> {
    const out: EndItem[] = [];
    const reason = opts.reason ?? 'REVOKED';
    for (const s of [...this.sessions.values()]) {
      if (s.rec.site !== site || s.rec.user !== user || s.hash === opts.keep) continue;
      this.remove(s, reason);
      out.push({ s, reason });
    }
    return out;
  }

  async getOrSuccessor(hash: string): Promise<{ session: StoredSession | null; successor: string | null; successorAt: number }> {
    const session = this.sessions.get(hash) ?? null;
    const succ = session ? undefined : this.successors.get(hash);
    return { session, successor: succ?.to ?? null, successorAt: succ?.at ?? 0 };
  }

  async userSessions(site: string, user: string): Promise<string[]> {
    return [...this.sessions.values()].filter((s) => s.rec.site === site && s.rec.user === user).map((s) => s.hash);
  }

  async getAttribute(hash: string, name: string): Promise<StoredAttribute | null> {
    return this.attributes.get(hash)?.get(name) ?? null;
  }

  async setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult> {
    const attrs = this.attributes.get(s.hash) ?? new Map<string, StoredAttribute>();
    const old = attrs.get(name);
    if (cond.createOnly && old) throw new AttributeExistsError(name);
    if (cond.etag !== undefined && old?.etag !== cond.etag) throw new EtagMismatchError(name);
    const names = s.rec.attributeNames.includes(name) ? s.rec.attributeNames : [...s.rec.attributeNames, name];
    const r = this.casWrite(s, { ...s.rec, attributeNames: names });
    if (r.ok) this.attributes.set(s.hash, attrs.set(name, { value, etag }));
    return r;
  }

  async deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult> {
    const attrs = this.attributes.get(s.hash);
    const old = attrs?.get(name);
    if (!old) throw new AttributeNotFoundError(name);
    if (cond.etag !== undefined && old.etag !== cond.etag) throw new EtagMismatchError(name);
    const r = this.casWrite(s, { ...s.rec, attributeNames: s.rec.attributeNames.filter((n) => n !== name) });
    if (r.ok) attrs!.delete(name);
    return r;
  }
}
