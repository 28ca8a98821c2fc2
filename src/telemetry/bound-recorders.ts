import type { Attributes, Counter } from '@opentelemetry/api';
import type { Verdict } from '../domain/decisions.js';
import { OTHER } from './labels.js';
import type { DurationAccumulator, RpcDurationTable } from './rpc-duration.js';

// Per-call recording with nothing built per call (ARCHITECTURE decision 14): each (method, code,
// reason) has its RPC duration accumulator, built once and found again by a map lookup, and counts
// that only need a total (the verdicts) are kept as plain numbers and handed to the SDK when the
// metrics are collected, so the SDK hashes no attribute set per call.

/**
 * Most pre-bound RPC attribute sets kept per lookup (methods × codes × reasons is small; this only
 * bounds a surprise): past it, calls go to the overflow set (`otel.metric.overflow`), as the SDK's do
 * past its cardinality limit.
 */
export const MAX_BOUND_ATTRS = 4096;

/** A stable ErrorInfo reason, or `other`. */
export function reasonLabel(reason: string): string {
  return /^[A-Z][A-Z0-9_]{0,47}$/.test(reason) ? reason : OTHER;
}

/**
 * The RPC duration histogram bound to its attribute sets: an accumulator per method for OK answers
 * (looked up by the method name alone) and one per (method, code, reason) for failures. One recorder
 * per table (rpc-duration.ts): a second would make a second series of the same attribute set.
 */
export class BoundCallRecorder {
  private readonly ok = new Map<string, DurationAccumulator>();
  private readonly failed = new Map<string, DurationAccumulator>();

  constructor(readonly table: RpcDurationTable) {}

  /** Records one finished call. */
  record(method: string, code: number, ms: number, reason: string | undefined): void {
    this.accumulator(method, code, reason).record(ms / 1000);
  }

  /** The accumulator of a call's outcome: the same object every time for the same outcome. */
  accumulator(method: string, code: number, reason: string | undefined): DurationAccumulator {
    if (code === 0) {
      let a = this.ok.get(method);
      if (!a) {
        if (this.ok.size >= MAX_BOUND_ATTRS) return this.table.overflowAccumulator();
        this.ok.set(method, (a = this.table.create({ 'rpc.method': method, 'rpc.grpc.status_code': 0 })));
      }
      return a;
    }
    const key = `${method}\n${code}\n${reason ?? ''}`;
    let a = this.failed.get(key);
    if (!a) {
      if (this.failed.size >= MAX_BOUND_ATTRS) return this.table.overflowAccumulator();
      const attrs: Attributes = { 'rpc.method': method, 'rpc.grpc.status_code': code, 'error.type': reason ? reasonLabel(reason) : OTHER };
      this.failed.set(key, (a = this.table.create(attrs)));
    }
    return a;
  }
}

const recorders = new WeakMap<RpcDurationTable, BoundCallRecorder>();

/** The one BoundCallRecorder of `table`, created on first use. */
export function callRecorderOf(table: RpcDurationTable): BoundCallRecorder {
  let r = recorders.get(table);
  if (!r) recorders.set(table, (r = new BoundCallRecorder(table)));
  return r;
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
