import type { Clock } from '../domain/clock.js';
import type { EndReason } from '../domain/session.js';
import type { Fence, LoginFamilyStore, SessionStore } from '../domain/ports.js';
import type { Elector } from '../leader/elector.js';
import type { NodeEvents, ScavengeReport } from './node-events.js';
import type { FreshnessGate, SessionService } from './session-service.js';

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
}

/** Lifecycle of the scavenger. */
export type ScavengerState = 'idle' | 'following' | 'leading' | 'stopped';

/**
 * Scavenger is the periodic clean-up of ended sessions (SPEC rule 14), run by exactly one elected
 * replica. Every delete is fenced on the leader key's create revision, and each session on its own
 * mod revision, so a deposed leader writes nothing and a session touched a moment ago survives.
 * Nothing depends on it for correctness: validates judge deadlines themselves (rule 1).
 */
export class Scavenger {
  private stateValue: ScavengerState = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScavengeReport | null> | undefined;
  private fence: Fence | null = null;
  private nextDue = 0;

  constructor(
    private readonly deps: {
      elector: Elector;
      service: SessionService;
      store: SessionStore;
      feed: FreshnessGate;
      clock: Clock;
      events: NodeEvents;
      /** Persistent-login token families to sweep when expired; absent, none are swept. */
      families?: LoginFamilyStore;
      log: { info(o: object, m: string): void; warn(o: object, m: string): void };
    },
    private readonly options: ScavengerOptions,
  ) {}

  get state(): ScavengerState {
    return this.stateValue;
  }

  /** Starts campaigning; sweeps while elected. */
  start(): void {
    if (this.stateValue !== 'idle') throw new Error(`scavenger: start in state ${this.stateValue}`);
    this.stateValue = 'following';
    this.deps.elector.on('elected', (fence: Fence) => this.lead(fence));
    this.deps.elector.on('lost', (err: Error) => this.follow(err));
    this.deps.elector.start();
  }

  private lead(fence: Fence): void {
    if (this.stateValue === 'stopped') return;
    this.fence = fence;
    this.stateValue = 'leading';
    this.deps.events.emit('leadership', true);
    this.deps.log.info({}, 'scavenger: elected leader');
    this.nextDue = this.deps.clock.now();
    this.schedule(0);
  }

  /** Leadership lost: stop sweeping at once (distinct from stop()). */
  private follow(err: Error): void {
    if (this.stateValue !== 'leading') return;
    this.fence = null;
    this.stateValue = 'following';
    clearTimeout(this.timer);
    this.deps.events.emit('leadership', false);
    this.deps.log.warn({ err: err.message }, 'scavenger: leadership lost; sweeping stopped');
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.cycle().finally(() => {
        if (this.stateValue === 'leading') {
          this.nextDue = this.deps.clock.now() + this.options.intervalMs();
          this.schedule(this.options.intervalMs());
        }
      });
    }, delayMs);
    this.timer.unref();
  }

  /** Runs one sweep now if leading (also used by tests); resolves with its report, or null. */
  cycle(): Promise<ScavengeReport | null> {
    if (this.running) return this.running;
    this.running = this.sweep().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(): Promise<ScavengeReport | null> {
    const fence = this.fence;
    if (!fence || this.stateValue !== 'leading') return null;
    try {
      this.deps.feed.assertFresh(); // never sweep from a stale mirror
    } catch {
      return null;
    }
    if (this.options.clockTrusted && !this.options.clockTrusted()) return null; // nor on a clock beyond the skew bound
    const start = performance.now();
    const now = this.deps.clock.now();
    const lagMs = Math.max(0, now - this.nextDue);
    const { items, scanned } = this.deps.service.endedSessions(now - (this.options.clockSkewMarginMs?.() ?? 0));
    const report: ScavengeReport = { durationMs: 0, scanned, ended: {}, fencedOut: 0, lagMs };
    try {
      const r = await this.deps.store.endFenced(items, fence);
      for (const it of r.ended) {
        report.ended[it.reason] = ((report.ended[it.reason] as number | undefined) ?? 0) + 1;
        this.deps.service.afterEnd(it.s, it.reason as EndReason, true);
      }
      if (r.fencedOut) {
        report.fencedOut = items.length - r.ended.length - r.changed;
        this.follow(new Error('fence: the leader key changed; another node leads'));
      } else if (this.deps.families) {
        // Expired persistent-login families (SPEC rule 19); their leases are the backstop.
        report.loginFamiliesRemoved = await this.deps.families.sweepExpired(now - (this.options.clockSkewMarginMs?.() ?? 0), fence);
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
    this.stateValue = 'stopped';
    this.fence = null;
    clearTimeout(this.timer);
    this.deps.elector.abandon();
  }

  /** Stops sweeping and resigns, handing leadership over at once. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    const wasLeading = this.stateValue === 'leading';
    this.stateValue = 'stopped';
    this.fence = null;
    clearTimeout(this.timer);
    await this.running?.catch(() => {});
    await this.deps.elector.stop();
    if (wasLeading) this.deps.events.emit('leadership', false);
  }
}
