import type { Clock } from '../domain/clock.js';
import { validateBackoff, type BackoffOptions } from '../lifecycle/backoff.js';

/** Options of WatchFeed. */
export interface WatchFeedOptions {
  /** Longest time without confirmed news from etcd before reads fail closed. Required; a function is read at every check (config reloads). */
  maxStalenessMs: number | (() => number);
  /** How often to ask etcd for a progress notification. Default maxStalenessMs / 4 (at least 50 ms). */
  progressIntervalMs?: number;
  /** Page size of the relist. Default 5000. */
  relistPageSize?: number;
  /**
   * Delays between attempts of the first sync and between reconnects. Default 100 ms doubling to
   * 2000 ms, no jitter (a field left out takes BackoffOptions' own default).
   */
  backoff?: BackoffOptions;
  /**
   * A key no record lives at, read linearizably to learn etcd's current revision (a single-key
   * range costs etcd almost nothing). Default: the first mirror's prefix itself.
   */
  revisionKey?: string;
  /** Deadline of one revision read. Default 2 × progressIntervalMs (at least 1000 ms). */
  proofTimeoutMs?: number;
  /**
   * A key inside the first mirror's range that is not a record of it (Keys.syncMarker). When set,
   * sync() writes it and waits for its own event on the first mirror's watch, instead of trusting
   * a progress notification: etcd before 3.4.31 / 3.5.13 may send a progress notification ahead of
   * events still queued for the stream (etcd-io/etcd#15220), which would let a miss overlook a login
   * committed a moment earlier. Events of one watcher always arrive in revision order.
   */
  syncKey?: string;
  /** Monotonic time of staleness (wall-clock jumps must not count). Default performance.now. */
  monotonic?: Clock;
}

/** WatchFeedOptions with every default applied and validated. */
export interface FeedSettings {
  readonly maxStaleness: () => number;
  readonly progressIntervalMs: number;
  readonly relistPageSize: number;
  readonly backoff: BackoffOptions;
  readonly revisionKey: string;
  readonly proofTimeoutMs: number;
  /** '' when sync() uses the revision-read proof. */
  readonly syncKey: string;
  readonly monotonic: Clock;
}

/** The default monotonic clock: performance.now. */
const performanceClock: Clock = { now: () => performance.now() };

/**
 * Compiles raw options to settings (raw → defaults → validated, as Temporal's SDK does); throws on
 * an invalid combination. `firstPrefix` is the first mirror's prefix.
 */
export function compileFeedOptions(options: WatchFeedOptions, firstPrefix: string): FeedSettings {
  const m = options.maxStalenessMs;
  const maxStaleness = typeof m === 'function' ? m : () => m;
  const initial = maxStaleness();
  if (!(initial > 0)) throw new Error('watch-feed: maxStalenessMs must be greater than 0');
  const progressIntervalMs = options.progressIntervalMs ?? Math.max(50, Math.floor(initial / 4));
  const backoff: BackoffOptions = { initialMs: 100, maxMs: 2000, jitter: 0, ...options.backoff };
  validateBackoff('watch-feed', backoff);
  const s: FeedSettings = {
    maxStaleness,
    progressIntervalMs,
    relistPageSize: options.relistPageSize ?? 5000,
    backoff,
    revisionKey: options.revisionKey ?? firstPrefix,
    proofTimeoutMs: options.proofTimeoutMs ?? Math.max(1000, 2 * progressIntervalMs),
    syncKey: options.syncKey ?? '',
    monotonic: options.monotonic ?? performanceClock,
  };
  if (s.syncKey && !s.syncKey.startsWith(firstPrefix)) throw new Error("watch-feed: syncKey must lie inside the first channel's prefix");
  if (!(s.proofTimeoutMs > 0)) throw new Error('watch-feed: proofTimeoutMs must be greater than 0');
  if (s.progressIntervalMs >= initial) throw new Error('watch-feed: progressIntervalMs must be less than maxStalenessMs');
  return s;
}
