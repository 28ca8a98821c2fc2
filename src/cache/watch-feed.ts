import { EventEmitter } from 'node:events';
import type { IDuplexStream, IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { CacheStaleError, NotServingError, StoreQuotaExceededError } from '../domain/errors.js';
import type { EtcdGateway } from '../store/etcd/client.js';
import { prefixEnd } from '../store/etcd/keys.js';
import { listPrefix } from '../store/etcd/range-lister.js';
import type { MirrorChannel } from './mirror-channel.js';
import { NextBatch } from './next-batch.js';

interface RevisionWaiter {
  revision: number;
  /** What must reach `revision`. */
  progress: () => number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

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
  /**
   * A key no record lives at, read linearizably to learn etcd's current revision (a single-key
   * range costs etcd almost nothing). Default: the first channel's prefix itself.
   */
  revisionKey?: string;
  /** Deadline of one revision read. Default 2 × progressIntervalMs (at least 1000 ms). */
  proofTimeoutMs?: number;
  /**
   * A key inside the first channel's range that is not a record of it (Keys.syncMarker). When set,
   * sync() writes it and waits for its own event on the first channel's watch, instead of trusting
   * a progress notification: etcd before 3.4.31 / 3.5.13 may send a progress notification ahead of
   * events still queued for the stream (etcd-io/etcd#15220), which would let a miss overlook a login
   * committed a moment earlier. Events of one watcher always arrive in revision order.
   */
  syncKey?: string;
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
  /** Every event up to this revision has been applied to the channel (a progress notification counts: freshness only). */
  applied: number;
  /** The revision of the last event (or list) applied: advanced by the channel's own data only, never by a progress notification. */
  seen: number;
  watchId: string | undefined;
}

/**
 * WatchFeed keeps in-memory mirrors in step with etcd (ARCHITECTURE decision 4): list every channel's
 * prefix at one revision R, watch each from R+1 on one stream, apply events in revision order, and
 * own the resume point — after any stream error each channel re-watches from its own last applied
 * revision + 1, and everything is relisted when etcd says a revision was compacted. Watches require
 * a leader. Freshness is proven, never assumed (decision 10): the mirrors are fresh as of time T
 * only when a linearizable read sent at T returned a revision R and the watch has since applied
 * everything up to R. Reads fail closed once nothing has been proven for `maxStalenessMs` of
 * monotonic time (wall-clock jumps do not count).
 *
 * Events: 'state' (FeedState), 'lost' (Error: the watch broke while live), 'freshness' (boolean:
 * whether reads may be served changed), 'retry' (Error during the first sync).
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
  private readonly proofs: NextBatch<number>;
  private readonly syncs: NextBatch<number>;
  private waiters: RevisionWaiter[] = [];
  private lastFresh = false;
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
    const progressIntervalMs = options.progressIntervalMs ?? Math.max(50, Math.floor(initial / 4));
    this.opts = {
      progressIntervalMs,
      relistPageSize: options.relistPageSize ?? 5000,
      backoffMinMs: options.backoffMinMs ?? 100,
      backoffMaxMs: options.backoffMaxMs ?? 2000,
      revisionKey: options.revisionKey ?? channels[0]!.prefix,
      proofTimeoutMs: options.proofTimeoutMs ?? Math.max(1000, 2 * progressIntervalMs),
      syncKey: options.syncKey ?? '',
    };
    if (this.opts.syncKey && !this.opts.syncKey.startsWith(channels[0]!.prefix)) {
      throw new Error('watch-feed: syncKey must lie inside the first channel\'s prefix');
    }
    if (!(this.opts.proofTimeoutMs > 0)) throw new Error('watch-feed: proofTimeoutMs must be greater than 0');
    if (this.opts.progressIntervalMs >= initial) {
      throw new Error('watch-feed: progressIntervalMs must be less than maxStalenessMs');
    }
    if (this.opts.backoffMinMs > this.opts.backoffMaxMs) throw new Error('watch-feed: backoffMinMs must not exceed backoffMaxMs');
    this.backoffMs = this.opts.backoffMinMs;
    this.channels = channels.map((channel) => ({ channel, applied: 0, seen: 0, watchId: undefined }));
    this.proofs = new NextBatch(() => this.prove());
    this.syncs = this.opts.syncKey ? new NextBatch(() => this.syncByMarker()) : this.proofs;
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
    this.progressTimer = setInterval(() => this.tick(), this.opts.progressIntervalMs);
    this.progressTimer.unref();
    this.tick();
  }

  /** Periodic work: prove freshness again, and report when the verdict on freshness changes. */
  private tick(): void {
    if (this.isStopped()) return;
    this.reportFreshness();
    if (this.waiters.length > 0) this.requestProgress(); // a request lost in a reconnect is asked again
    this.proofs.run().catch(() => this.reportFreshness());
  }

  private reportFreshness(): void {
    const fresh = this.isFresh();
    if (fresh === this.lastFresh) return;
    this.lastFresh = fresh;
    this.emit('freshness', fresh);
  }

  /**
   * Resolves once the first channel's mirror holds every change etcd had committed when this call
   * was made, and returns that revision (ARCHITECTURE decision 10). Concurrent callers share one
   * etcd request that starts after they called: a write of the sync marker (with `syncKey`) whose
   * own event proves the watch caught up, else (or when etcd refuses the marker over its space
   * quota) a linearizable revision read and a progress request.
   * Either needs a quorum, so a member cut off from its peers cannot answer. Rejects with
   * CacheStaleError when the watch does not get there in time, or with the store's error.
   */
  sync(): Promise<number> {
    if (this.isStopped()) return Promise.reject(new NotServingError('cache stopped'));
    return this.syncs.run();
  }

  /** Callers waiting for a sync that has not started yet (the miss backlog). */
  get pendingSyncs(): number {
    return this.syncs.queued;
  }

  private async syncByMarker(): Promise<number> {
    let r;
    try {
      r = await this.etcd.txn(
        { compare: [], success: [{ request_put: { key: Buffer.from(this.opts.syncKey), value: Buffer.alloc(0) } }], failure: [] },
        'sync',
      );
    } catch (err) {
      // Over the space quota etcd refuses every put, the marker too, yet reads must go on (README:
      // reads continue over quota). Fall back to the periodic proof — a quorum revision read, then
      // the watch reaching it — which starts after this call and writes nothing (on etcd before
      // 3.4.31 / 3.5.13 it keeps the etcd-io/etcd#15220 window of a few milliseconds). Any other
      // refusal (no leader, timeout) fails the miss as before.
      if (!(err instanceof StoreQuotaExceededError)) throw err;
      return this.proofs.run();
    }
    const revision = Number(r.header.revision);
    if (this.stateValue === 'down') this.reconnectNow();
    await this.waitFor(revision, () => this.channels[0]!.seen);
    return revision;
  }

  private async prove(): Promise<number> {
    const sentAt = performance.now();
    const r = await this.etcd.range({ key: Buffer.from(this.opts.revisionKey), count_only: true }, 'revision', this.opts.proofTimeoutMs);
    const revision = Number(r.header.revision);
    // etcd has a quorum again while the watch waits out its backoff: reconnect now.
    if (this.stateValue === 'down') this.reconnectNow();
    await this.appliedUpTo(revision);
    // Everything committed before the read was sent is in the mirrors now.
    if (sentAt > this.confirmedAt) this.confirmedAt = sentAt;
    this.reportFreshness();
    return revision;
  }

  /** Waits until every channel has applied every change up to `revision`. */
  private appliedUpTo(revision: number): Promise<void> {
    return this.waitFor(revision, () => this.revision);
  }

  /** Waits until `progress()` reaches `revision`, asking etcd for a progress notification meanwhile. */
  private waitFor(revision: number, progress: () => number): Promise<void> {
    if (progress() >= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new CacheStaleError(Math.round(this.stalenessMs())));
      }, this.opts.proofTimeoutMs);
      timer.unref();
      const waiter: RevisionWaiter = { revision, progress, resolve, timer };
      this.waiters.push(waiter);
      // Other prefixes may have moved etcd's revision past the last event we were sent: a progress
      // notification tells every watcher on the stream it has everything up to the current revision.
      this.requestProgress();
    });
  }

  private wakeWaiters(): void {
    if (this.waiters.length === 0) return;
    const still: RevisionWaiter[] = [];
    for (const w of this.waiters) {
      if (w.revision <= w.progress()) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  /** Stops watching for good. */
  stop(): void {
    if (this.isStopped()) return;
    this.generation++;
    this.setState('stopped');
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters = [];
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
    const sentAt = performance.now();
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
      c.seen = revision;
    });
    this.stats.lastAppliedRevision = revision;
    this.stats.relists++;
    // The lists were linearizable reads at `revision`: the mirrors were complete when they were sent.
    if (sentAt > this.confirmedAt) this.confirmedAt = sentAt;
    this.wakeWaiters();
  }

  private async openWatch(): Promise<void> {
    const gen = ++this.generation;
    // require-leader: a member that lost its leader closes the stream instead of serving stale events.
    const stream = await this.etcd.openWatch({ requireLeader: true });
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
          // Resume after the last event actually applied, never after a progress notification's
          // revision: etcd before 3.4.31 / 3.5.13 may send a notification ahead of events still
          // queued for the stream (etcd-io/etcd#15220); resuming past them would skip them for good.
          start_revision: c.seen + 1,
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
        if (this.waiters.length > 0) this.requestProgress();
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
        if (rev > c.seen) c.seen = rev;
        this.stats.eventsApplied++;
      }
    } else if (res.events.length === 0 && !res.fragment) {
      // A progress notification: every watcher on the stream has every event up to this revision.
      const rev = Number(res.header.revision);
      const targets = c ? [c] : this.channels;
      for (const t of targets) if (rev > t.applied) t.applied = rev;
    }
    this.stats.lastAppliedRevision = this.revision;
    // Freshness is not confirmed here: a member cut off from its peers still answers progress
    // requests from its own stale state. Only a quorum read followed by this revision proves it.
    this.wakeWaiters();
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
    this.reconnectPending = true;
    this.relistPending = compacted;
    this.reconnectTimer = setTimeout(() => void this.reconnect(compacted), delay);
    this.reconnectTimer.unref();
  }

  private reconnectPending = false;
  private relistPending = false;

  private reconnectNow(): void {
    if (!this.reconnectPending) return;
    clearTimeout(this.reconnectTimer);
    void this.reconnect(this.relistPending);
  }

  private async reconnect(relist: boolean): Promise<void> {
    this.reconnectPending = false;
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
