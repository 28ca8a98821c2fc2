import type { IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { CacheStaleError, NotServingError } from '../domain/errors.js';
import { Backoff, retryUntil } from '../lifecycle/backoff.js';
import { Lifecycle, type LifecycleEvents, type LongRunning } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import type { EtcdGateway } from '../store/etcd/client.js';
import { FEED_TRANSITIONS, type FeedEvents, type FeedState, type FeedStats } from './feed-lifecycle.js';
import { Freshness, quorumRevision } from './freshness.js';
import type { MirrorSink } from './mirror.js';
import { NextBatch } from './next-batch.js';
import { listAtOneRevision } from './relist.js';
import { applyResponse, createRequest, lowestApplied, type SinkState } from './resume-point.js';
import { RevisionWaiters } from './revision-waiters.js';
import { syncByMarker } from './sync-marker.js';
import { compileFeedOptions, type FeedSettings, type WatchFeedOptions } from './watch-feed-options.js';

/**
 * WatchFeed keeps in-memory mirrors in step with etcd (ARCHITECTURE decision 4): list every mirror's
 * prefix at one revision R, watch each from R+1 on one stream, apply events in revision order, and
 * own the resume point — after any stream error each mirror re-watches from its own last applied
 * revision + 1, and everything is relisted when etcd says a revision was compacted. Watches require
 * a leader. Freshness is proven, never assumed (decision 10, see Freshness). `lost` is emitted when
 * the watch breaks while live (it reconnects by itself); `stopped` only by stop().
 */
export class WatchFeed implements LongRunning<FeedState, FeedEvents> {
  private readonly life = new Lifecycle<FeedState, FeedEvents>('watch-feed', FEED_TRANSITIONS, 'new');
  private stream: IDuplexStream<IWatchRequest, IWatchResponse> | undefined;
  private readonly sinks: SinkState[];
  private progressTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly opts: FeedSettings;
  private readonly backoff: Backoff;
  private readonly freshness: Freshness;
  private readonly proofs: NextBatch<number>;
  private readonly syncs: NextBatch<number>;
  private readonly waiters: RevisionWaiters;
  /** Counters for telemetry and tests. */
  readonly stats: FeedStats = { relists: 0, reconnects: 0, eventsApplied: 0, lastAppliedRevision: 0 };
  private generation = 0;
  private pendingCreates: SinkState[] = [];
  private createTimer: NodeJS.Timeout | undefined;
  private reconnectPending = false;
  private relistPending = false;

  constructor(
    private readonly etcd: EtcdGateway,
    sinks: readonly MirrorSink[],
    options: WatchFeedOptions,
  ) {
    if (sinks.length === 0) throw new Error('watch-feed: at least one channel is required');
    this.opts = compileFeedOptions(options, sinks[0]!.prefix);
    this.backoff = new Backoff('watch-feed', this.opts.backoff);
    this.sinks = sinks.map((sink) => ({ sink, applied: 0, seen: 0, watchId: undefined }));
    this.freshness = new Freshness(this.opts.maxStaleness, this.opts.monotonic, (fresh) => {
      if (!this.isStopped()) this.life.listeners.emit('freshness', fresh); // nothing after 'stopped'
    });
    this.waiters = new RevisionWaiters({
      timeoutMs: this.opts.proofTimeoutMs,
      requestProgress: () => this.requestProgress(),
      timeoutError: () => new CacheStaleError(Math.round(this.stalenessMs())),
    });
    const quorumSeen = () => {
      if (this.state === 'down') this.reconnectNow();
    };
    const readRevision = () => quorumRevision(this.etcd, this.opts.revisionKey, this.opts.proofTimeoutMs);
    this.proofs = new NextBatch(() =>
      this.freshness.prove({ readRevision, quorumSeen, appliedUpTo: (r) => this.waiters.waitFor(r, () => this.revision) }, () => this.state),
    );
    this.syncs = this.opts.syncKey
      ? new NextBatch(() =>
          syncByMarker(this.etcd, this.opts.syncKey, {
            prove: () => this.proofs.run(),
            quorumSeen,
            seenUpTo: (r) => this.waiters.waitFor(r, () => this.sinks[0]!.seen),
          }),
        )
      : this.proofs;
  }

  /** The current state. */
  get state(): FeedState {
    return this.life.state;
  }

  /** Subscribes to state / lost / stopped / freshness / retry; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<FeedState> & FeedEvents)>(event: K, fn: Listener<LifecycleEvents<FeedState> & FeedEvents, K>): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** The highest revision up to which every mirror holds every change. */
  get revision(): number {
    return lowestApplied(this.sinks);
  }

  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  /** Lists and starts watching; resolves once the first list is in memory. Throws IllegalTransitionError unless 'new'. */
  async start(): Promise<void> {
    this.life.expect('start', 'new');
    this.life.to('syncing');
    // etcd may not be reachable yet (pods start in any order): keep trying until it is, or until stop().
    await retryUntil(() => this.relist(), new Backoff('watch-feed', this.opts.backoff), {
      stopped: () => this.isStopped(),
      stoppedError: () => new NotServingError('stopped while syncing'),
      onRetry: (err) => this.life.listeners.emit('retry', err),
    });
    try {
      await this.openWatch();
    } catch (err) {
      this.onBroken(err as Error);
    }
    if (this.isStopped()) return;
    this.progressTimer = setInterval(() => this.tick(), this.opts.progressIntervalMs);
    this.progressTimer.unref();
    this.tick();
  }

  /** Periodic work: prove freshness again, and report when the verdict on freshness changes. */
  private tick(): void {
    if (this.isStopped()) return;
    this.reportFreshness();
    if (this.waiters.size > 0) this.requestProgress(); // a request lost in a reconnect is asked again
    this.proofs.run().catch(() => this.reportFreshness());
  }

  private reportFreshness(): void {
    if (!this.isStopped()) this.freshness.report(this.state);
  }

  /**
   * Resolves once the first mirror holds every change etcd had committed when this call was made, with
   * that revision (decision 10): concurrent callers share one quorum-backed request (sync-marker.ts).
   * Rejects with CacheStaleError when the watch does not get there in time, or with the store's error.
   */
  sync(): Promise<number> {
    if (this.isStopped()) return Promise.reject(new NotServingError('cache stopped'));
    return this.syncs.run();
  }

  /** Callers waiting for a sync that has not started yet (the miss backlog). */
  get pendingSyncs(): number {
    return this.syncs.queued;
  }

  /** Stops watching for good; idempotent. Emits `stopped` (never `lost`). */
  async stop(): Promise<void> {
    if (this.isStopped()) return;
    this.generation++;
    this.life.to('stopped');
    this.waiters.clear();
    clearInterval(this.progressTimer);
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.createTimer);
    this.closeStream();
    this.life.stopped();
  }

  /** Milliseconds since etcd last confirmed the mirrors were complete. */
  stalenessMs(): number {
    return this.freshness.stalenessMs();
  }

  /** Throws unless the mirrors may be trusted now: synced once, and confirmed within maxStalenessMs. */
  assertFresh(): void {
    this.freshness.assert(this.state);
  }

  /** True when reads may be served from the mirrors. */
  isFresh(): boolean {
    return this.freshness.isFresh(this.state);
  }

  private async relist(): Promise<void> {
    const sentAt = this.freshness.now();
    const { revision, commit } = await listAtOneRevision((req) => this.etcd.range(req, 'list'), this.sinks.map((c) => c.sink), this.opts.relistPageSize);
    commit();
    for (const c of this.sinks) {
      c.applied = revision;
      c.seen = revision;
    }
    this.stats.lastAppliedRevision = revision;
    this.stats.relists++;
    // The lists were linearizable reads at `revision`: the mirrors were complete when they were sent.
    this.freshness.confirm(sentAt);
    this.waiters.wake();
  }

  private async openWatch(): Promise<void> {
    if (this.isStopped()) return;
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
    this.pendingCreates = [...this.sinks];
    // A stalled link can swallow the create requests without any error: without an answer in time,
    // treat the stream as broken so the reconnect loop keeps trying.
    clearTimeout(this.createTimer);
    this.createTimer = setTimeout(() => {
      if (gen === this.generation && this.pendingCreates.length > 0) this.onBroken(new Error('watch create not acknowledged in time'));
    }, Math.max(1000, this.opts.maxStaleness()));
    this.createTimer.unref();
    for (const c of this.sinks) {
      c.watchId = undefined;
      stream.write(createRequest(c));
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
        this.backoff.reset();
        this.life.to('live');
        if (this.waiters.size > 0) this.requestProgress();
      }
      return;
    }
    applyResponse(this.sinks, res, this.stats);
    // Freshness is not confirmed here: a member cut off from its peers still answers progress
    // requests from its own stale state. Only a quorum read followed by this revision proves it.
    this.waiters.wake();
  }

  private requestProgress(): void {
    if (this.state !== 'live' || !this.stream) return;
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
    if (this.state === 'live') this.life.lost(err);
    this.life.to('down');
    clearTimeout(this.reconnectTimer);
    this.reconnectPending = true;
    this.relistPending = compacted;
    this.reconnectTimer = setTimeout(() => void this.reconnect(compacted), this.backoff.next());
    this.reconnectTimer.unref();
  }

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
