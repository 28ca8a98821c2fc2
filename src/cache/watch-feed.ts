import { EventEmitter } from 'node:events';
import type { IDuplexStream, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { CacheStaleError, NotServingError } from '../domain/errors.js';
import type { EtcdGateway } from '../store/etcd/client.js';
import { prefixEnd } from '../store/etcd/keys.js';
import { listPrefix } from '../store/etcd/range-lister.js';
import type { MirrorChannel } from './mirror-channel.js';

/** Lifecycle of the feed: a documented string union, as in Temporal's SDK. */
export type FeedState = 'idle' | 'syncing' | 'live' | 'down' | 'stopped';

/** Options of WatchFeed. */
export interface WatchFeedOptions {
  /** Longest time without confirmed news from etcd before reads fail closed. Required; a function is read at every check (config reloads). */
  maxStalenessMs: number | (() => number);
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

interface ChannelState {
  channel: MirrorChannel;
  /** Every event up to this revision has been applied to the channel. */
  applied: number;
  watchId: string | undefined;
}

/**
 * WatchFeed keeps in-memory mirrors in step with etcd (ARCHITECTURE decision 4): list every channel's
 * prefix at one revision R, watch each from R+1 on one stream, apply events in revision order, and
 * own the resume point — after any stream error each channel re-watches from its own last applied
 * revision + 1, and everything is relisted when etcd says a revision was compacted. Freshness is
 * confirmed with progress requests; reads fail closed once nothing has been confirmed for
 * `maxStalenessMs` of monotonic time (wall-clock jumps do not count).
 *
 * Events: 'state' (FeedState), 'lost' (Error: the watch broke while live), 'synced' (revision),
 * 'retry' (Error during the first sync), 'unreadable' (a record that failed to decode).
 */
export class WatchFeed extends EventEmitter {
  private stateValue: FeedState = 'idle';
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private readonly channels: ChannelState[];
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private progressTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private readonly opts: Required<Omit<WatchFeedOptions, 'maxStalenessMs'>>;
  private readonly maxStaleness: () => number;
  readonly stats: FeedStats = { relists: 0, reconnects: 0, eventsApplied: 0, lastAppliedRevision: 0 };
  private generation = 0;
  private pendingCreates: ChannelState[] = [];
  private createTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly etcd: EtcdGateway,
    channels: readonly MirrorChannel[],
    options: WatchFeedOptions,
  ) {
    super();
    if (channels.length === 0) throw new Error('watch-feed: at least one channel is required');
    const m = options.maxStalenessMs;
    this.maxStaleness = typeof m === 'function' ? m : () => m;
    const initial = this.maxStaleness();
    if (!(initial > 0)) throw new Error('watch-feed: maxStalenessMs must be greater than 0');
    this.opts = {
      progressIntervalMs: options.progressIntervalMs ?? Math.max(50, Math.floor(initial / 4)),
      relistPageSize: options.relistPageSize ?? 5000,
      backoffMinMs: options.backoffMinMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 2000,
    };
    if (this.opts.progressIntervalMs >= initial) {
      throw new Error('watch-feed: progressIntervalMs must be less than maxStalenessMs');
    }
    if (this.opts.backoffMinMs > this.opts.backoffMaxMs) throw new Error('watch-feed: backoffMinMs must not exceed backoffMaxMs');
    this.backoffMs = this.opts.backoffMinMs;
    this.channels = channels.map((channel) => ({ channel, applied: 0, watchId: undefined }));
  }

  get state(): FeedState {
    return this.stateValue;
  }

  /** The highest revision up to which every channel holds every change. */
  get revision(): number {
    return Math.min(...this.channels.map((c) => c.applied));
  }

  private setState(s: FeedState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.emit('state', s);
  }

  private isStopped(): boolean {
    return this.stateValue === 'stopped';
  }

  /** Lists and starts watching; resolves once the first list is in memory. */
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

  /** Stops watching for good. */
  stop(): void {
    if (this.isStopped()) return;
    this.generation++;
    this.setState('stopped');
    clearInterval(this.progressTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.createTimer);
    this.closeStream();
  }

  /** Milliseconds since etcd last confirmed the mirrors were complete. */
  stalenessMs(): number {
    return performance.now() - this.confirmedAt;
  }

  /** Throws unless the mirrors may be trusted now: synced once, and confirmed within maxStalenessMs. */
  assertFresh(): void {
    if (this.stateValue === 'stopped') throw new NotServingError('cache stopped');
    if (this.confirmedAt === Number.NEGATIVE_INFINITY) throw new NotServingError(`cache ${this.stateValue}`);
    const stale = this.stalenessMs();
    if (stale > this.maxStaleness()) throw new CacheStaleError(Math.round(stale));
  }

  /** True when reads may be served from the mirrors. */
  isFresh(): boolean {
    try {
      this.assertFresh();
      return true;
    } catch {
      return false;
    }
  }

  /** Lists a prefix page by page at one revision (0 = now); returns the revision read. */
  private listPrefix(prefix: string, revision: number, onPage: (kvs: IKeyValue[]) => void): Promise<number> {
    return listPrefix((req) => this.etcd.range(req, 'list'), prefix, { pageSize: this.opts.relistPageSize, revision }, onPage);
  }

  private async relist(): Promise<void> {
    // All channels are listed at one revision so the mirrors agree with each other; nothing is
    // applied until every list is complete.
    let revision = 0;
    const commits: Array<(rev: number) => void> = [];
    for (const c of this.channels) {
      const ch = c.channel;
      if (ch.beginList) {
        const listing = ch.beginList();
        revision = await this.listPrefix(ch.prefix, revision, (kvs) => listing.add(kvs));
        commits.push((rev) => listing.commit(rev));
      } else {
        const all: IKeyValue[] = [];
        revision = await this.listPrefix(ch.prefix, revision, (kvs) => all.push(...kvs));
        commits.push((rev) => ch.replaceAll(all, rev));
      }
    }
    this.channels.forEach((c, i) => {
      commits[i]!(revision);
      c.applied = revision;
    });
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
    stream.on('data', (res: IWatchResponse) => {
      if (gen === this.generation) this.onResponse(res);
    });
    stream.on('error', (err: Error) => {
      if (gen === this.generation) this.onBroken(err);
    });
    stream.on('end', () => {
      if (gen === this.generation) this.onBroken(new Error('watch stream ended'));
    });
    // etcd answers creates in order, so the n-th `created` response belongs to the n-th request.
    this.pendingCreates = [...this.channels];
    // A stalled link can swallow the create requests without any error: without an answer in time,
    // treat the stream as broken so the reconnect loop keeps trying.
    clearTimeout(this.createTimer);
    this.createTimer = setTimeout(() => {
      if (gen === this.generation && this.pendingCreates.length > 0) this.onBroken(new Error('watch create not acknowledged in time'));
    }, Math.max(1000, this.maxStaleness()));
    this.createTimer.unref();
    for (const c of this.channels) {
      c.watchId = undefined;
      stream.write({
        create_request: {
          key: Buffer.from(c.channel.prefix),
          range_end: prefixEnd(c.channel.prefix),
          start_revision: c.applied + 1,
          progress_notify: true,
        },
      });
    }
  }

  private onResponse(res: IWatchResponse): void {
    if (Number(res.compact_revision) > 0) {
      // A resume revision was compacted away: only a relist can restore complete mirrors.
      this.onBroken(new Error(`watch compacted at ${res.compact_revision}`), true);
      return;
    }
    if (res.canceled) {
      this.onBroken(new Error(`watch canceled: ${res.cancel_reason}`));
      return;
    }
    if (res.created) {
      const c = this.pendingCreates.shift();
      if (c) c.watchId = String(res.watch_id);
      if (this.pendingCreates.length === 0) {
        this.backoffMs = this.opts.backoffMinMs;
        this.setState('live');
      }
      return;
    }
    const c = this.channels.find((x) => x.watchId === String(res.watch_id));
    if (res.events.length > 0 && c) {
      for (const ev of res.events) {
        const rev = Number(ev.kv.mod_revision);
        if (ev.type === 'Delete') c.channel.delete(ev.kv);
        else c.channel.put(ev.kv);
        if (rev > c.applied) c.applied = rev;
        this.stats.eventsApplied++;
      }
    } else if (res.events.length === 0 && !res.fragment) {
      // A progress notification: every watcher on the stream has every event up to this revision.
      const rev = Number(res.header.revision);
      const targets = c ? [c] : this.channels;
      for (const t of targets) if (rev > t.applied) t.applied = rev;
    }
    this.stats.lastAppliedRevision = this.revision;
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
    if (this.isStopped()) return;
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
    if (this.isStopped()) return;
    this.stats.reconnects++;
    try {
      if (relist) await this.relist();
      await this.openWatch();
    } catch (err) {
      this.onBroken(err as Error, relist);
    }
  }
}
