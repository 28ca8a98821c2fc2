import type { Clock } from '../domain/clock.js';
import { backstopTtlMs, mustPersist, withActivity } from '../domain/decisions.js';
import type { SessionMirror, SessionStore, StoredSession } from '../domain/ports.js';
import type { Activity, SessionRecord } from '../domain/session.js';
import { Listeners, type Unsubscribe } from '../lifecycle/listeners.js';
import { AGAIN, casRetry } from './cas-retry.js';

/** Options of TouchWriter. */
export interface TouchWriterOptions {
  /** Added to every backstop lease TTL so the scavenger, not etcd, normally ends sessions. Required; a function is read per write. */
  leaseMarginMs: number | (() => number);
  /** Attempts per write when other nodes keep changing the record (then the write waits for the next touch or flush). Default 3. */
  maxAttempts?: number;
}

/** Counters for telemetry and tests. */
export interface TouchStats {
  /** Touches kept in memory only. */
  coalesced: number;
  /** Store writes done. */
  written: number;
  /** Store writes that failed (retried on the next touch or flush). */
  failed: number;
}

interface Pending {
  activity: Activity;
  inflight: boolean;
  again: boolean;
}

/**
 * TouchWriter holds each session's newest activity in memory and writes it behind (SPEC rule 15):
 * at most one store write per session per touch granularity, compare-and-swapped on the record's mod
 * revision so nodes never overwrite each other's newer data.
 */
export class TouchWriter {
  private readonly pending = new Map<string, Pending>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly maxAttempts: number;
  readonly stats: TouchStats = { coalesced: 0, written: 0, failed: 0 };
  private readonly listeners = new Listeners<{ 'write-error': [err: unknown] }>();

  constructor(
    private readonly store: SessionStore,
    private readonly cache: SessionMirror,
    private readonly clock: Clock,
    private readonly options: TouchWriterOptions,
  ) {
    if (!(this.margin() >= 0)) throw new Error('touch-writer: leaseMarginMs must not be negative');
    this.maxAttempts = options.maxAttempts ?? 3;
    if (!(this.maxAttempts >= 1)) throw new Error('touch-writer: maxAttempts must be at least 1');
    cache.onDelete((hash) => this.pending.delete(hash));
  }

  private margin(): number {
    const m = this.options.leaseMarginMs;
    return typeof m === 'function' ? m() : m;
  }

  /** Subscribes to background write failures (logging; the activity stays pending and is retried); returns the unsubscribe. */
  on(event: 'write-error', fn: (err: unknown) => void): Unsubscribe {
    return this.listeners.on(event, fn);
  }

  /** Lease TTL for a record written now: its backstop plus the margin; 0 = no lease. */
  ttlFor(rec: SessionRecord): number {
    const ttl = backstopTtlMs(rec, this.clock.now());
    return ttl === 0 ? 0 : ttl + this.margin();
  }

  /** The newest activity this node has seen for a session (written or not). */
  activity(stored: StoredSession): Activity | undefined {
    return this.pending.get(stored.hash)?.activity;
  }

  /** Records new activity for a session and starts a write if the store is due for one. */
  record(stored: StoredSession, activity: Activity): void {
    let p = this.pending.get(stored.hash);
    if (!p) {
      p = { activity, inflight: false, again: false };
      this.pending.set(stored.hash, p);
    } else {
      p.activity = {
        lastAccessAt: Math.max(p.activity.lastAccessAt, activity.lastAccessAt),
        hits: Math.max(p.activity.hits, activity.hits),
      };
    }
    if (mustPersist(stored.rec, p.activity, stored.rec)) this.kick(stored.hash);
    else this.stats.coalesced++;
  }

  /** Forgets a session's pending activity (it ended). */
  forget(hash: string): void {
    this.pending.delete(hash);
  }

  /** Number of sessions with activity not yet written. */
  get backlog(): number {
    return this.pending.size;
  }

  private kick(hash: string, force = false): void {
    const p = this.pending.get(hash);
    if (!p) return;
    if (p.inflight) {
      p.again = true;
      return;
    }
    const w = this.write(hash, p, force).finally(() => this.inflight.delete(w));
    this.inflight.add(w);
  }

  private async write(hash: string, p: Pending, force: boolean): Promise<void> {
    p.inflight = true;
    try {
      const first = this.cache.get(hash) ?? (await this.store.get(hash)).session;
      // True when the session is gone: its pending activity goes with it.
      const gone = !first || (await this.writeActivity(hash, p, first, force));
      if (gone) this.pending.delete(hash);
    } catch (err) {
      this.stats.failed++;
      this.listeners.emit('write-error', err);
    } finally {
      p.inflight = false;
      if (p.again) {
        p.again = false;
        this.kick(hash);
      }
    }
  }

  /**
   * Compare-and-swaps the pending activity into the record, re-judging on the freshest record after
   * each conflict; true when the session is gone. When other nodes keep changing the record the
   * activity stays pending for the next touch or flush (no error).
   */
  private writeActivity(hash: string, p: Pending, first: StoredSession, force: boolean): Promise<boolean> {
    let s = first;
    return casRetry<boolean>(
      async () => {
        const next = withActivity(s.rec, p.activity);
        if (next === s.rec) return false; // the store already has this activity
        // Judge again against the freshest record: another write may have made this one unnecessary.
        if (!force && !mustPersist(s.rec, p.activity, s.rec)) return false;
        const r = await this.store.update(s, next, this.ttlFor(next));
        if (r.ok) {
          this.cache.upsert(r.session);
          this.stats.written++;
          // Nothing newer arrived while writing: the store has it all, forget the entry.
          if (!p.again && p.activity.lastAccessAt <= next.lastAccessAt && p.activity.hits <= next.hits) this.pending.delete(hash);
          return false;
        }
        if (!r.current) return true;
        this.cache.upsert(r.current);
        s = r.current;
        return AGAIN;
      },
      { attempts: this.maxAttempts, exhausted: () => false },
    );
  }

  /** Writes every pending activity now (shutdown) and waits for all writes; returns how many failed. */
  async flush(): Promise<number> {
    await Promise.allSettled([...this.inflight]);
    const before = this.stats.failed;
    for (const hash of [...this.pending.keys()]) this.kick(hash, true);
    await Promise.allSettled([...this.inflight]);
    return this.stats.failed - before;
  }
}
