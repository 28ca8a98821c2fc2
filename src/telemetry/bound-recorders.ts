import type { Attributes, Counter, Histogram } from '@opentelemetry/api';
import type { Verdict } from '../domain/decisions.js';
import { OTHER } from './labels.js';

// Per-call recording with nothing built per call (ARCHITECTURE decision 14): the attribute set of
// every (method, code, reason) is built once and reused, and counts that only need a total (the
// verdicts) are kept as plain numbers and handed to the SDK when the metrics are collected, so the
// SDK hashes their attributes once per collection instead of once per call.

/** Most pre-bound RPC attribute sets kept (methods × codes × reasons is small; this only bounds a surprise). */
export const MAX_BOUND_ATTRS = 4096;

/** A stable ErrorInfo reason, or `other`. */
export function reasonLabel(reason: string): string {
  return /^[A-Z][A-Z0-9_]{0,47}$/.test(reason) ? reason : OTHER;
}

/**
 * The RPC duration histogram bound to its attribute sets: one per method for OK answers (looked up by
 * the method name alone) and one per (method, code, reason) for failures.
 */
export class BoundCallRecorder {
  private readonly ok = new Map<string, Attributes>();
  private readonly failed = new Map<string, Attributes>();

  constructor(private readonly histogram: Histogram) {}

  /** Records one finished call. */
  record(method: string, code: number, ms: number, reason: string | undefined): void {
    this.histogram.record(ms / 1000, this.attributes(method, code, reason));
  }

  /** The (shared, never to be modified) attribute set of a call's outcome. */
  attributes(method: string, code: number, reason: string | undefined): Attributes {
    if (code === 0) {
      let a = this.ok.get(method);
      if (!a) {
        a = { 'rpc.method': method, 'rpc.grpc.status_code': 0 };
        if (this.ok.size < MAX_BOUND_ATTRS) this.ok.set(method, a);
      }
      return a;
    }
    const key = `${method}\n${code}\n${reason ?? ''}`;
    let a = this.failed.get(key);
    if (!a) {
      a = { 'rpc.method': method, 'rpc.grpc.status_code': code, 'error.type': reason ? reasonLabel(reason) : OTHER };
      if (this.failed.size < MAX_BOUND_ATTRS) this.failed.set(key, a);
    }
    return a;
  }
}

/** The verdicts in the order their counts are kept. */
const VERDICTS: readonly Verdict[] = ['VALID', 'NOT_FOUND', 'EXPIRED', 'REAUTH_REQUIRED', 'HIT_LIMIT', 'BINDING_MISMATCH'];

/**
 * Verdict counts kept as numbers between collections: add() is an increment; flush() hands the
 * counts gathered since the last flush to the counter (one add per verdict seen, attributes built
 * once), to be called when the metrics are collected and when the recorder is detached.
 */
export class VerdictTally {
  private readonly pending = new Float64Array(VERDICTS.length);
  private readonly index = new Map<Verdict, number>(VERDICTS.map((v, i) => [v, i]));
  private readonly attrs: readonly Attributes[] = VERDICTS.map((verdict) => ({ verdict }));
  /** Verdicts outside the known list (none today), counted directly. */
  private readonly others = new Map<string, Attributes>();

  constructor(private readonly counter: Counter) {}

  /** Counts one verdict. */
  add(verdict: Verdict): void {
    const i = this.index.get(verdict);
    if (i !== undefined) this.pending[i]! += 1;
    else {
      let a = this.others.get(verdict);
      if (!a) this.others.set(verdict, (a = { verdict }));
      this.counter.add(1, a);
    }
  }

  /** Hands the counts gathered since the last flush to the counter. */
  flush(): void {
    for (let i = 0; i < VERDICTS.length; i++) {
      const n = this.pending[i]!;
      if (n === 0) continue;
      this.pending[i] = 0;
      this.counter.add(n, this.attrs[i]);
    }
  }
}
