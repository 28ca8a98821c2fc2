import type { Clock } from '../domain/clock.js';
import type { EndReason } from '../domain/session.js';
import type { EndItem, Fence, LoginFamilyStore, SessionStore, StoredSession } from '../domain/ports.js';
import type { Elector } from '../leader/elector.js';
import { Lifecycle, type LifecycleEvents, type LongRunning, type Transitions } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import { timerScheduler, type Cancel, type Scheduler } from '../lifecycle/scheduler.js';
import type { NodeEvents, ScavengeReport } from './node-events.js';

/** Options of Scavenger. */
export interface ScavengerOptions {
  /** session.scavenge.interval, read before each cycle so config reloads apply. Required. */
  intervalMs: () => number;
  /**
   * cluster.max-clock-skew: a session is swept only once it is expired by more than this on this
   * node's clock, so a leader whose clock runs ahead by up to it ends nothing early. Default none (0).
   */
  clockSkewMarginMs?: () => number;
  /** False while this node's clock is beyond the skew bound: then nothing is swept. Default always true. */
  clockTrusted?: () => boolean;
  /** Schedules the cycles. Default an unref'd setTimeout. */
  scheduler?: Scheduler;
}

/** What the scavenger asks of the session use cases: the candidates, and the bookkeeping after an end. */
export interface ScavengeTarget {
  /** Sessions whose deadlines passed before `cutoff` (from the mirror), and how many were examined. */
  endedSessions(cutoff: number): { items: EndItem[]; scanned: number };
  /** Forgets an ended session locally and counts it. */
  afterEnd(s: StoredSession, reason: EndReason, counted: boolean): void;
}

/** Whether the mirror is proven fresh: assertFresh() throws when it is not. */
export interface FreshnessCheck {
  assertFresh(): void;
}

/** The part of the Elector the scavenger drives. */
export type ScavengerElector = Pick<Elector, 'on' | 'start' | 'stop' | 'stepDown' | 'abandon'>;

/**
 * Lifecycle of the scavenger: `new` until start(); `following` while another node leads (or while
 * campaigning); `leading` while elected, sweeping each interval under the elector's signal;
 * `stopped` after stop() or abandon() (terminal).
 */
export type ScavengerState = 'new' | 'following' | 'leading' | 'stopped';

const TRANSITIONS: Transitions<ScavengerState> = {
  new: ['following', 'stopped'],
  following: ['leading', 'stopped'],
  leading: ['following', 'stopped'],
  stopped: [],
};

/** The error a fenced write reports when the leader key changed: the elector steps down with it. */
export class FencedOutError extends Error {
  /** Stable reason. */
  readonly reason = 'FENCED_OUT';
  constructor() {
    super('fence: the leader key changed; another node leads');
    this.name = 'FencedOutError';
  }
}

/**
 * Scavenger is the periodic clean-up of ended sessions (SPEC rule 14), run by exactly one elected
 * replica. Every delete is fenced on the leader key's incarnation, and each session on its own
 * version, so a deposed leader writes nothing and a session touched a moment ago survives; a fenced
 * write that finds the fence gone makes the elector step down. Nothing depends on it for
 * correctness: validates judge deadlines themselves (rule 1). `lost` = leadership lost while running.
 */
export class Scavenger implements LongRunning<ScavengerState> {
  private readonly life = new Lifecycle<ScavengerState>('scavenger', TRANSITIONS, 'new');
  private cancelTimer: Cancel = () => {};
  private running: Promise<ScavengeReport | null> | undefined;
  private fence: Fence | null = null;
  private signal: AbortSignal | undefined;
  private nextDue = 0;
  private readonly schedule: Scheduler;
  private unsubscribe: Unsubscribe = () => {};

  constructor(
    private readonly deps: {
      elector: ScavengerElector;
      service: ScavengeTarget;
      store: Pick<SessionStore, 'endFenced'>;
      feed: FreshnessCheck;
      clock: Clock;
      events: Pick<NodeEvents, 'emit'>;
      /** Persistent-login token families to sweep when expired; absent, none are swept. */
      families?: Pick<LoginFamilyStore, 'sweepExpired'>;
      log: { info(o: object, m: string): void; warn(o: object, m: string): void };
    },
    private readonly options: ScavengerOptions,
  ) {
    this.schedule = options.scheduler ?? timerScheduler;
  }

  /** The current state. */
  get state(): ScavengerState {
    return this.life.state;
  }

  /** Subscribes to `state`, `lost` (leadership lost) or `stopped`; returns the unsubscribe. */
  on<K extends keyof LifecycleEvents<ScavengerState>>(event: K, fn: Listener<LifecycleEvents<ScavengerState>, K>): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** Starts campaigning; sweeps while elected. Throws IllegalTransitionError unless `new`. */
  start(): void {
    this.life.expect('start', 'new');
    this.life.to('following');
    this.unsubscribe = this.deps.elector.on('elected', (fence, signal) => this.lead(fence, signal));
    this.deps.elector.start();
  }

  private lead(fence: Fence, signal: AbortSignal): void {
    if (this.life.state !== 'following' || signal.aborted) return;
    this.fence = fence;
    this.signal = signal;
    this.life.to('leading');
    signal.addEventListener('abort', () => this.follow(signal), { once: true });
    this.deps.events.emit('leadership', true);
    this.deps.log.info({}, 'scavenger: elected leader');
    this.nextDue = this.deps.clock.now();
    this.scheduleCycle(0);
  }

  /** The leader signal aborted: stop sweeping at once. A loss emits `lost`; stop() does not. */
  private follow(signal: AbortSignal): void {
    if (this.life.state !== 'leading' || this.signal !== signal) return;
    this.fence = null;
    this.signal = undefined;
    this.cancelTimer();
    this.life.to('following');
    this.deps.events.emit('leadership', false);
    const err = signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
    this.deps.log.warn({ err: err.message }, 'scavenger: leadership lost; sweeping stopped');
    this.life.lost(err);
  }

  private scheduleCycle(delayMs: number): void {
    this.cancelTimer();
    this.cancelTimer = this.schedule(() => {
      void this.cycle().finally(() => {
        if (this.life.state === 'leading') {
          this.nextDue = this.deps.clock.now() + this.options.intervalMs();
          this.scheduleCycle(this.options.intervalMs());
        }
      });
    }, delayMs);
  }

  /** Runs one sweep now if leading (also used by tests); resolves with its report, or null. */
  cycle(): Promise<ScavengeReport | null> {
    if (this.running) return this.running;
    this.running = this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(): Promise<ScavengeReport | null> {
    const fence = this.fence;
    const signal = this.signal;
    if (!fence || !signal || signal.aborted || this.life.state !== 'leading') return null;
    try {
      this.deps.feed.assertFresh(); // never sweep from a stale mirror
    } catch {
      return null;
    }
    if (this.options.clockTrusted && !this.options.clockTrusted()) return null; // nor on a clock beyond the skew bound
    const start = performance.now();
    const now = this.deps.clock.now();
    const lagMs = Math.max(0, now - this.nextDue);
    const cutoff = now - (this.options.clockSkewMarginMs?.() ?? 0);
    const { items, scanned } = this.deps.service.endedSessions(cutoff);
    const report: ScavengeReport = { durationMs: 0, scanned, ended: {}, fencedOut: 0, lagMs };
    try {
      const r = await this.deps.store.endFenced(items, fence);
      for (const it of r.ended) {
        report.ended[it.reason] = ((report.ended[it.reason] as number | undefined) ?? 0) + 1;
        this.deps.service.afterEnd(it.s, it.reason, true);
      }
      if (r.fencedOut) {
        report.fencedOut = items.length - r.ended.length - r.changed;
        // Another node leads (or our lease ran out unseen): leave leadership so the election can settle.
        this.deps.elector.stepDown(new FencedOutError());
      } else if (this.deps.families && !signal.aborted) {
        // Expired persistent-login families (SPEC rule 19); their leases are the backstop.
        report.loginFamiliesRemoved = await this.deps.families.sweepExpired(cutoff, fence);
      }
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'scavenger: cycle failed; will retry next interval');
    }
    report.durationMs = performance.now() - start;
    this.deps.events.emit('scavenge-cycle', report);
    return report;
  }

  /** Stops sweeping without resigning (crash simulation): another node takes over after the election TTL. */
  abandon(): void {
    if (this.life.state === 'stopped') return;
    this.life.to('stopped');
    this.fence = null;
    this.signal = undefined;
    this.cancelTimer();
    this.unsubscribe();
    this.deps.elector.abandon();
  }

  /** Stops sweeping and resigns, handing leadership over at once; emits `stopped`. Idempotent. */
  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    const wasLeading = this.life.state === 'leading';
    this.life.to('stopped');
    this.fence = null;
    this.signal = undefined;
    this.cancelTimer();
    this.unsubscribe();
    try {
      await this.running?.catch(() => {});
      await this.deps.elector.stop();
      if (wasLeading) this.deps.events.emit('leadership', false);
    } finally {
      this.life.stopped();
    }
  }
}
