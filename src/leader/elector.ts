import type { Fence } from '../domain/ports.js';
import { Lifecycle, type Transitions } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import type { LifecycleEvents, LongRunning } from '../lifecycle/lifecycle.js';
import { timerScheduler, type Cancel, type Scheduler } from '../lifecycle/scheduler.js';
import type { Candidacy, Election } from '../domain/ports.js';

/**
 * Lifecycle of the elector: `new` until start(); `campaigning` while waiting for leadership (also
 * between a loss and the next campaign); `leader` while holding it, with a fence and a live signal;
 * `stopped` after stop() or abandon() (terminal).
 */
export type ElectorState = 'new' | 'campaigning' | 'leader' | 'stopped';

const TRANSITIONS: Transitions<ElectorState> = {
  new: ['campaigning', 'stopped'],
  campaigning: ['leader', 'stopped'],
  leader: ['campaigning', 'stopped'],
  stopped: [],
};

/** The elector's own events, next to the lifecycle's `state`, `lost` (leadership lost) and `stopped`. */
export interface ElectorEvents {
  /** Became leader: write under `fence`, and stop all leader work when `signal` aborts. */
  elected: [fence: Fence, signal: AbortSignal];
}

/** Options of Elector; defaults in the field comments. */
export interface ElectorOptions {
  /** The value this node campaigns with (its node id). Required. */
  nodeId: string;
  /** Delay before campaigning again after losing or stepping down. Default 500 ms. */
  retryDelayMs?: number;
  /** Schedules the re-campaign. Default an unref'd setTimeout. */
  scheduler?: Scheduler;
}

/** The reason a leader signal is aborted with when the elector stops (not a loss). */
export class ElectorStoppedError extends Error {
  /** Stable reason. */
  readonly reason = 'ELECTOR_STOPPED';
  constructor() {
    super('elector: stopped');
    this.name = 'ElectorStoppedError';
  }
}

/**
 * Elector runs a leader election through the Election port and hands the leader a fence (the
 * leader key and its incarnation) and an AbortSignal, as client-go's leaderelection hands the
 * leader's work a cancellable context. Election alone does not guarantee a single leader, so every
 * leader write compares on the fence; when such a write finds the fence gone, the leader calls
 * stepDown(): the signal aborts, `lost` is emitted and the elector campaigns again. `lost` (while
 * running) is distinct from `stopped` (after stop()).
 */
export class Elector implements LongRunning<ElectorState, ElectorEvents> {
  private readonly life = new Lifecycle<ElectorState, ElectorEvents>('elector', TRANSITIONS, 'new');
  private candidacy: Candidacy | undefined;
  private fenceValue: Fence | null = null;
  private leaderWork: AbortController | undefined;
  private cancelRetry: Cancel = () => {};
  private readonly retryDelayMs: number;
  private readonly schedule: Scheduler;

  constructor(
    private readonly election: Election,
    private readonly options: ElectorOptions,
  ) {
    if (!options.nodeId) throw new Error('elector: nodeId is required');
    this.retryDelayMs = options.retryDelayMs ?? 500;
    if (!(this.retryDelayMs >= 0)) throw new Error('elector: retryDelayMs must not be negative');
    this.schedule = options.scheduler ?? timerScheduler;
  }

  /** The current state. */
  get state(): ElectorState {
    return this.life.state;
  }

  /** The fence while leader, else null. */
  get fence(): Fence | null {
    return this.fenceValue;
  }

  /** The leader work signal while leader (aborted on step-down, loss or stop), else undefined. */
  get signal(): AbortSignal | undefined {
    return this.leaderWork?.signal;
  }

  /** Subscribes to `elected`, `lost`, `state` or `stopped`; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<ElectorState> & ElectorEvents)>(event: K, fn: Listener<LifecycleEvents<ElectorState> & ElectorEvents, K>): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** Starts campaigning; returns at once. Throws IllegalTransitionError unless `new`. */
  start(): void {
    this.life.expect('start', 'new');
    this.campaign();
  }

  private campaign(): void {
    if (this.life.state === 'stopped') return;
    this.life.to('campaigning');
    let mine: Candidacy | undefined;
    const current = () => mine !== undefined && this.candidacy === mine && this.life.state !== 'stopped';
    mine = this.election.campaign(this.options.nodeId, {
      elected: (fence) => {
        if (!current()) return;
        this.fenceValue = fence;
        this.leaderWork = new AbortController();
        this.life.to('leader');
        this.life.listeners.emit('elected', fence, this.leaderWork.signal);
      },
      failed: (err) => {
        if (current()) this.leave(err);
      },
    });
    this.candidacy = mine;
  }

  /**
   * Leaves leadership because a leader write found the fence gone (another node leads, or the lease
   * expired unseen): resigns, aborts the leader signal, emits `lost` and campaigns again after the
   * retry delay. A no-op unless leader (the loss may already have been seen).
   */
  stepDown(reason: Error): void {
    if (this.life.state !== 'leader') return;
    this.leave(reason);
  }

  /** The candidacy is over (failed or stepped down): drop it and campaign again later. */
  private leave(err: Error): void {
    const wasLeader = this.life.state === 'leader';
    const c = this.candidacy;
    this.candidacy = undefined;
    this.fenceValue = null;
    this.life.to('campaigning');
    void c?.resign();
    try {
      this.endLeaderWork(err);
    } finally {
      if (wasLeader) this.life.lost(err);
      this.cancelRetry();
      this.cancelRetry = this.schedule(() => this.campaign(), this.retryDelayMs);
    }
  }

  private endLeaderWork(reason: Error): void {
    const w = this.leaderWork;
    this.leaderWork = undefined;
    w?.abort(reason);
  }

  /** The node id of the current leader, if any. */
  leader(): Promise<string | undefined> {
    return this.election.leader();
  }

  /**
   * Stops campaigning without resigning, as a crash would: the candidacy's lease expires on its own
   * and another node takes over after the election TTL (failover tests, SessionNode.kill()).
   */
  abandon(): void {
    if (this.life.state === 'stopped') return;
    this.finish()?.abandon();
  }

  /** Moves to 'stopped' for good: no fence, no retry, the leader's work aborted; returns the candidacy to end. */
  private finish(): Candidacy | undefined {
    this.life.to('stopped');
    this.fenceValue = null;
    this.cancelRetry();
    const c = this.candidacy;
    this.candidacy = undefined;
    this.endLeaderWork(new ElectorStoppedError());
    return c;
  }

  /** Resigns (hands leadership over at once) and stops campaigning; emits `stopped`. Idempotent. */
  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    try {
      await this.finish()?.resign();
    } finally {
      this.life.stopped();
    }
  }
}
