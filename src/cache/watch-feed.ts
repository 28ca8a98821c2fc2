import { EventEmitter } from 'node:events';
import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { CacheStaleError, NotServingError } from '../domain/errors.js';
import type { StoredSession } from '../domain/ports.js';
import type { EtcdGateway } from '../store/etcd/client.js';
import { prefixEnd, type Keys } from '../store/etcd/keys.js';
import { storedFromKv } from '../store/etcd/session-store.js';
import type { SessionCache } from './session-cache.js';

/** Lifecycle of the feed: a documented string union, as in Temporal's SDK. */
export type FeedState = 'idle' | 'syncing' | 'live' | 'down' | 'stopped';

/** Options of WatchFeed. */
export interface WatchFeedOptions {
  /** Longest time without confirmed news from etcd before reads fail closed. Required. */
  maxStalenessMs: number;
  /** How often to ask etcd for a progress notification. Default maxStalenessMs / 4. */
  progressIntervalMs?: number;
  /** Page size of the relist. Default 5000. */
  relistPageSize?: number;
  /** First and last reconnect delay. Defaults 100 ms and 2000 ms. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

/** Counters for telemetry and tests. */
export interface FeedStats {
  relists: number;
  reconnects: number;
  eventsApplied: number;
  lastAppliedRevision: number;
}

/**
 * WatchFeed keeps a SessionCache in step with etcd (ARCHITECTURE decision 4): list at revision R,
 * watch from R+1, apply events by mod revision, and own the resume point — after any stream error it
 * re-watches from the last applied revision + 1, and relists when etcd says that revision was
 * compacted. It confirms freshness with progress requests; reads fail closed once nothing has been
 * confirmed for `maxStalenessMs` of monotonic time (wall-clock jumps do not count).
 *
 * Events: 'state' (FeedState), 'lost' (Error: the watch broke while live), 'synced' (revision).
 */
export class WatchFeed extends EventEmitter {
  private stateValue: FeedState = 'idle';
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private lastApplied = 0;
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private progressTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private readonly opts: Required<WatchFeedOptions>;
  readonly stats: FeedStats = { relists: 0, reconnects: 0, eventsApplied: 0, lastAppliedRevision: 0 };
  private generation = 0;

  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly cache: SessionCache,
    options: WatchFeedOptions,
  ) {
    super();
    if (!(options.maxStalenessMs > 0)) throw new Error('watch-feed: maxStalenessMs must be greater than 0');
    this.opts = {
      maxStalenessMs: options.maxStalenessMs,
      progressIntervalMs: options.progressIntervalMs ?? Math.max(50, Math.floor(options.maxStalenessMs / 4)),
      relistPageSize: options.relistPageSize ?? 5000,
      backoffMinMs: options.backoffMinMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 2000,
    };
    if (this.opts.progressIntervalMs >= this.opts.maxStalenessMs) {
      throw new Error('watch-feed: progressIntervalMs must be less than maxStalenessMs');
    }
    if (this.opts.backoffMinMs > this.opts.backoffMaxMs) throw new Error('watch-feed: backoffMinMs must not exceed backoffMaxMs');
    this.backoffMs = this.opts.backoffMinMs;
  }

  get state(): FeedState {
    return this.stateValue;
  }

  /** The highest revision whose events are all in the cache. */
  get revision(): number {
    return this.lastApplied;
  }

  private setState(s: FeedState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.emit('state', s);
  }

  /** Lists and starts watching; resolves once the first list is in the cache. */
  async start(): Promise<void> {
    if (this.stateValue !== 'idle') throw new Error(`watch-feed: start in state ${this.stateValue}`);
    this.setState('syncing');
    // etcd may not be reachable yet (pods start in any order): keep trying until it is, or until stop().
    let delay = this.opts.backoffMinMs;
    for (;;) {
      try {
        await this.relist();
        break;
      } catch (err) {
        if (this.isStopped()) throw new NotServingError('stopped while syncing');
        this.emit('retry', err);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(this.opts.backoffMaxMs, delay * 2);
      }
      if (this.isStopped()) throw new NotServingError('stopped while syncing');
    }
    try {
      await this.openWatch();
    } catch (err) {
      this.onBroken(err as Error);
    }
    this.progressTimer = setInterval(() => this.requestProgress(), this.opts.progressIntervalMs);
    this.progressTimer.unref();
  }

  private isStopped(): boolean {
    return this.stateValue === 'stopped';
  }

  /** Stops watching for good. */
  stop(): void {
    if (this.stateValue === 'stopped') return;
    this.generation++;
    this.setState('stopped');
    clearInterval(this.progressTimer);
    clearTimeout(this.reconnectTimer);
    this.closeStream();
  }

  /** Milliseconds since etcd last confirmed the mirror was complete. */
  stalenessMs(): number {
    return performance.now() - this.confirmedAt;
  }

  /** Throws unless the mirror may be trusted now: synced once, and confirmed within maxStalenessMs. */
  assertFresh(): void {
    if (this.stateValue === 'stopped') throw new NotServingError('cache stopped');
    if (this.confirmedAt === Number.NEGATIVE_INFINITY) throw new NotServingError(`cache ${this.stateValue}`);
    const stale = this.stalenessMs();
    if (stale > this.opts.maxStalenessMs) throw new CacheStaleError(Math.round(stale));
  }

  /** True when reads may be served from the mirror. */
  isFresh(): boolean {
    try {
      this.assertFresh();
      return true;
    } catch {
      return false;
    }
  }

  private async relist(): Promise<void> {
    const prefix = this.keys.sessions();
    const end = prefixEnd(prefix);
    const next = new Map<string, StoredSession>();
    let from = Buffer.from(prefix);
    let revision = 0;
    for (;;) {
      const r = await this.etcd.range(
        { key: from, range_end: end, limit: this.opts.relistPageSize, ...(revision ? { revision } : {}) },
        's',
      );
      if (!revision) revision = Number(r.header.revision);
      for (const kv of r.kvs) {
        const hash = this.keys.hashOfSessionKey(kv.key.toString());
        if (!hash) continue;
        try {
          next.set(hash, storedFromKv(hash, kv));
        } catch (err) {
          this.emit('unreadable', hash, err);
        }
      }
      if (!r.more || r.kvs.length === 0) break;
      from = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    this.cache.replaceAll(next);
    this.lastApplied = revision;
    this.stats.lastAppliedRevision = revision;
    this.stats.relists++;
    this.confirmedAt = performance.now();
    this.emit('synced', revision);
  }

  private async openWatch(): Promise<void> {
    const gen = ++this.generation;
    const stream = await this.etcd.openWatch();
    if (gen !== this.generation) {
      stream.cancel?.();
      return;
    }
    this.stream = stream;
    const prefix = this.keys.sessions();
    stream.on('data', (res: IWatchResponse) => {
      if (gen === this.generation) this.onResponse(res);
    });
    stream.on('error', (err: Error) => {
      if (gen === this.generation) this.onBroken(err);
    });
    stream.on('end', () => {
      if (gen === this.generation) this.onBroken(new Error('watch stream ended'));
    });
    stream.write({
      create_request: {
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        start_revision: this.lastApplied + 1,
        progress_notify: true,
      },
    });
  }

  private onResponse(res: IWatchResponse): void {
    if (Number(res.compact_revision) > 0) {
      // The resume revision was compacted away: only a relist can restore a complete mirror.
      this.onBroken(new Error(`watch compacted at ${res.compact_revision}`), true);
      return;
    }
    if (res.canceled) {
      this.onBroken(new Error(`watch canceled: ${res.cancel_reason}`));
      return;
    }
    if (res.created) {
      this.backoffMs = this.opts.backoffMinMs;
      this.setState('live');
      return;
    }
    for (const ev of res.events) {
      const kv = ev.kv;
      const hash = this.keys.hashOfSessionKey(kv.key.toString());
      const rev = Number(kv.mod_revision);
      if (hash) {
        if (ev.type === 'Delete') {
          this.cache.delete(hash, rev);
        } else {
          try {
            this.cache.upsert(storedFromKv(hash, kv));
          } catch (err) {
            this.emit('unreadable', hash, err);
          }
        }
      }
      if (rev > this.lastApplied) this.lastApplied = rev;
      this.stats.eventsApplied++;
    }
    if (res.events.length === 0 && !res.fragment) {
      // A progress notification: every event up to the header revision has been delivered.
      const rev = Number(res.header.revision);
      if (rev > this.lastApplied) this.lastApplied = rev;
    }
    this.stats.lastAppliedRevision = this.lastApplied;
    if (this.stateValue === 'live') this.confirmedAt = performance.now();
  }

  private requestProgress(): void {
    if (this.stateValue !== 'live' || !this.stream) return;
    try {
      this.stream.write({ progress_request: {} });
    } catch (err) {
      this.onBroken(err as Error);
    }
  }

  private closeStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (!s) return;
    try {
      s.cancel?.();
    } catch {
      /* already closed */
    }
  }

  private onBroken(err: Error, compacted = false): void {
    if (this.stateValue === 'stopped') return;
    this.generation++;
    this.closeStream();
    if (this.stateValue === 'live') this.emit('lost', err);
    this.setState('down');
    clearTimeout(this.reconnectTimer);
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.opts.backoffMaxMs, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => void this.reconnect(compacted), delay);
    this.reconnectTimer.unref();
  }

  private async reconnect(relist: boolean): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.stats.reconnects++;
    try {
      if (relist) await this.relist();
      await this.openWatch();
    } catch (err) {
      this.onBroken(err as Error, relist);
    }
  }
}
