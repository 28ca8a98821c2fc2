import type { Fence } from '../../src/domain/ports.js';
import type { Candidacy, CandidacyHandlers, Election } from '../../src/domain/ports.js';
import type { Cancel, Scheduler } from '../../src/lifecycle/scheduler.js';

/** One campaign seen by FakeElection: the test elects or fails it, and sees how it ended. */
export interface FakeCandidacy {
  readonly value: string;
  ended: 'running' | 'resigned' | 'abandoned';
  elect(fence: Fence): void;
  fail(err: Error): void;
}

/** An in-memory Election: records campaigns; throws on calls a test did not allow. */
export class FakeElection implements Election {
  readonly campaigns: FakeCandidacy[] = [];
  leaderValue: string | undefined;

  campaign(value: string, handlers: CandidacyHandlers): Candidacy {
    const open = this.campaigns.filter((c) => c.ended === 'running');
    if (open.length > 0) throw new Error('FakeElection: a second campaign while one is still running');
    const c: FakeCandidacy = {
      value,
      ended: 'running',
      elect: (fence) => handlers.elected(fence),
      fail: (err) => handlers.failed(err),
    };
    this.campaigns.push(c);
    return {
      resign: async () => {
        if (c.ended !== 'running') throw new Error(`FakeElection: resign of a candidacy already ${c.ended}`);
        c.ended = 'resigned';
      },
      abandon: () => {
        if (c.ended !== 'running') throw new Error(`FakeElection: abandon of a candidacy already ${c.ended}`);
        c.ended = 'abandoned';
      },
    };
  }

  leader(): Promise<string | undefined> {
    return Promise.resolve(this.leaderValue);
  }

  /** The latest campaign (throws if none). */
  get last(): FakeCandidacy {
    const c = this.campaigns.at(-1);
    if (!c) throw new Error('FakeElection: no campaign yet');
    return c;
  }
}

/** A Scheduler run by hand: `runAll()` fires what is due in order; nothing runs by itself. */
export class ManualScheduler {
  private readonly pending: { fn: () => void; ms: number; cancelled: boolean }[] = [];

  readonly schedule: Scheduler = (fn, ms): Cancel => {
    const t = { fn, ms, cancelled: false };
    this.pending.push(t);
    return () => {
      t.cancelled = true;
    };
  };

  /** Delays of the timers still pending. */
  get delays(): number[] {
    return this.pending.filter((t) => !t.cancelled).map((t) => t.ms);
  }

  /** Runs every pending timer once (timers they schedule wait for the next call). */
  runAll(): void {
    const due = this.pending.splice(0);
    for (const t of due) if (!t.cancelled) t.fn();
  }
}
