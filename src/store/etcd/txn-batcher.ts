import { AsyncResource } from 'node:async_hooks';
import type { ICompare, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import { RequestTooLargeError } from '../../domain/errors.js';
import { LeaseGoneError } from './errors.js';

/** Options of a TxnBatcher. */
export interface TxnBatcherOptions {
  /** Most compares, and most success ops, in one txn. Default 128 (etcd's --max-txn-ops default). */
  maxOps?: number;
  /** Most key + value bytes in one txn. Default 1 MiB (etcd refuses requests over 1.5 MiB by default). */
  maxBytes?: number;
  /** Batches in flight at once; later submissions wait and join the next batch. Default 2. */
  maxInFlight?: number;
  /**
   * Wraps, in each later write's own async context, its wait for a txn it shares with the first
   * write (the txn itself runs in the first write's context): a tracing span, so every request's
   * trace shows the etcd txn that carried it. Default: no wrapper.
   */
  follow?: <T>(wait: () => Promise<T>) => Promise<T>;
}

/** The outcome of one submitted conditional write: whether its compares held, and at which revision. */
export interface BatchedTxnResult {
  succeeded: boolean;
  revision: number;
}

interface Item {
  compare: ICompare[];
  success: IRequestOp[];
  bytes: number;
  /** Runs a function in the async context of the submit call. */
  inContext: <T>(fn: () => T) => T;
  resolve: (r: BatchedTxnResult) => void;
  reject: (e: unknown) => void;
}

function opKey(op: IRequestOp): string | undefined {
  const put = op.request_put;
  return put ? Buffer.from(put.key as Buffer).toString('latin1') : undefined;
}

function sameOp(a: IRequestOp, b: IRequestOp): boolean {
  const x = a.request_put;
  const y = b.request_put;
  if (!x || !y) return false;
  return (
    Buffer.compare(Buffer.from(x.key as Buffer), Buffer.from(y.key as Buffer)) === 0 &&
    Buffer.compare(Buffer.from((x.value ?? Buffer.alloc(0)) as Buffer), Buffer.from((y.value ?? Buffer.alloc(0)) as Buffer)) === 0 &&
    String(x.lease ?? '0') === String(y.lease ?? '0')
  );
}

function sizeOf(compare: ICompare[], success: IRequestOp[]): number {
  let n = 0;
  for (const c of compare) n += Buffer.byteLength(c.key as Buffer) + 16;
  for (const op of success) {
    const p = op.request_put;
    if (p) n += Buffer.byteLength(p.key as Buffer) + Buffer.byteLength((p.value ?? Buffer.alloc(0)) as Buffer) + 16;
    else n += 64;
  }
  return n;
}

/**
 * TxnBatcher group-commits independent conditional writes (logins) into shared etcd txns: a
 * submission goes out at once while fewer than `maxInFlight` batches are in flight, and the ones that
 * arrive meanwhile share the next txn. The combined txn holds every compare and every op, so it is
 * all or nothing like each write alone; identical puts (the create marker every login writes) are
 * sent once. When the combined compares fail, or etcd refuses the batch for a reason that may belong
 * to one write (a vanished lease, a too-large request), every write is retried alone so each gets its
 * own answer; other errors (etcd unavailable) fail the whole batch, which wrote nothing.
 */
export class TxnBatcher {
  private readonly maxOps: number;
  private readonly maxBytes: number;
  private readonly maxInFlight: number;
  private readonly follow: <T>(wait: () => Promise<T>) => Promise<T>;
  private queue: Item[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** Counters for telemetry and tests. */
  readonly stats = { batches: 0, writes: 0, retriedAlone: 0 };

  constructor(
    private readonly run: (req: ITxnRequest) => Promise<ITxnResponse>,
    options: TxnBatcherOptions = {},
  ) {
    this.maxOps = options.maxOps ?? 128;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.maxInFlight = options.maxInFlight ?? 2;
    this.follow = options.follow ?? ((wait) => wait());
    if (!(Number.isInteger(this.maxOps) && this.maxOps > 0)) throw new Error(`TxnBatcher: maxOps must be a positive integer, got ${this.maxOps}`);
    if (!(this.maxBytes > 0)) throw new Error(`TxnBatcher: maxBytes must be > 0, got ${this.maxBytes}`);
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight > 0)) throw new Error(`TxnBatcher: maxInFlight must be a positive integer, got ${this.maxInFlight}`);
  }

  /** Submits "if every compare holds, do every op"; resolves with the outcome of this write alone. */
  submit(compare: ICompare[], success: IRequestOp[]): Promise<BatchedTxnResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ compare, success, bytes: sizeOf(compare, success), inContext: AsyncResource.bind(<T>(fn: () => T): T => fn()), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // Submissions made in the same turn of the event loop (one socket read of requests) join up.
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.maxInFlight && this.queue.length > 0) void this.flush(this.take());
    });
  }

  /** Takes the next batch off the queue: as many writes as fit, in order, without conflicting puts. */
  private take(): Item[] {
    const batch: Item[] = [];
    const rest: Item[] = [];
    const puts = new Map<string, IRequestOp>();
    let compares = 0;
    let ops = 0;
    let bytes = 0;
    for (const item of this.queue) {
      let newOps = 0;
      let conflict = false;
      for (const op of item.success) {
        const k = opKey(op);
        const seen = k === undefined ? undefined : puts.get(k);
        if (seen && !sameOp(seen, op)) conflict = true;
        if (!seen) newOps++;
      }
      const fits = compares + item.compare.length <= this.maxOps && ops + newOps <= this.maxOps && bytes + item.bytes <= this.maxBytes;
      if (batch.length > 0 && (conflict || !fits)) {
        rest.push(item);
        continue;
      }
      batch.push(item);
      compares += item.compare.length;
      ops += newOps;
      bytes += item.bytes;
      for (const op of item.success) {
        const k = opKey(op);
        if (k !== undefined && !puts.has(k)) puts.set(k, op);
      }
    }
    this.queue = rest;
    return batch;
  }

  private async flush(batch: Item[]): Promise<void> {
    this.inFlight++;
    this.stats.batches++;
    this.stats.writes += batch.length;
    try {
      if (batch.length === 1) {
        await this.alone(batch[0]!);
        return;
      }
      const compare = batch.flatMap((i) => i.compare);
      const success: IRequestOp[] = [];
      const puts = new Set<string>();
      for (const item of batch) {
        for (const op of item.success) {
          const k = opKey(op);
          if (k !== undefined) {
            if (puts.has(k)) continue;
            puts.add(k);
          }
          success.push(op);
        }
      }
      let r: ITxnResponse;
      try {
        const shared = this.run({ compare, success, failure: [] });
        const followers = batch.slice(1).map((item) => item.inContext(() => this.follow(() => shared)).catch(() => undefined));
        r = await shared;
        await Promise.all(followers);
      } catch (err) {
        if (err instanceof LeaseGoneError || err instanceof RequestTooLargeError) {
          await this.eachAlone(batch);
        } else {
          for (const item of batch) item.reject(err);
        }
        return;
      }
      if (r.succeeded) {
        const revision = Number(r.header.revision);
        for (const item of batch) item.resolve({ succeeded: true, revision });
      } else {
        await this.eachAlone(batch);
      }
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private async eachAlone(batch: Item[]): Promise<void> {
    this.stats.retriedAlone += batch.length;
    await Promise.all(batch.map((item) => this.alone(item)));
  }

  private async alone(item: Item): Promise<void> {
    try {
      const r = await this.run({ compare: item.compare, success: item.success, failure: [] });
      item.resolve({ succeeded: r.succeeded, revision: Number(r.header.revision) });
    } catch (err) {
      item.reject(err);
    }
  }
}
