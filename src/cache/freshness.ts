import type { Clock } from '../domain/clock.js';
import { CacheStaleError, NotServingError } from '../domain/errors.js';
import type { EtcdGateway } from '../store/etcd/client.js';

/** etcd's current revision from a linearizable count-only read of `key` (it needs a quorum: a cut-off member cannot answer). */
export async function quorumRevision(etcd: EtcdGateway, key: string, timeoutMs: number): Promise<number> {
  return Number((await etcd.range({ key: Buffer.from(key), count_only: true }, 'revision', timeoutMs)).header.revision);
}

/** What a freshness proof needs from the feed. */
export interface ProofSteps {
  /** A linearizable (quorum) read of etcd's current revision. */
  readRevision(): Promise<number>;
  /** etcd answered with a quorum: a watch waiting out its backoff may reconnect now. */
  quorumSeen(): void;
  /** Resolves once the watch has applied every change up to `revision` (rejects when it does not in time). */
  appliedUpTo(revision: number): Promise<void>;
}

/**
 * Freshness is the proof that the mirrors may be trusted (ARCHITECTURE decision 10, after
 * Kubernetes KEP-2340): they are fresh as of monotonic time T only when a linearizable read sent at
 * T returned a revision R and the watch has since applied everything up to R. A progress
 * notification alone proves nothing: an etcd member cut off from its peers still answers it from its
 * own stale state. Reads fail closed once nothing has been proven for maxStaleness.
 */
export class Freshness {
  private confirmedAt = Number.NEGATIVE_INFINITY;
  private lastFresh = false;

  constructor(
    private readonly maxStaleness: () => number,
    private readonly monotonic: Clock,
    /** Told when the verdict of isFresh() changes (see report()). */
    private readonly onChange: (fresh: boolean) => void,
  ) {}

  /** The monotonic time now. */
  now(): number {
    return this.monotonic.now();
  }

  /** Records that everything etcd had committed at monotonic time `sentAt` is in the mirrors. */
  confirm(sentAt: number): void {
    if (sentAt > this.confirmedAt) this.confirmedAt = sentAt;
  }

  /** Milliseconds since etcd last confirmed the mirrors were complete (Infinity before the first list). */
  stalenessMs(): number {
    return this.monotonic.now() - this.confirmedAt;
  }

  /** Throws unless the mirrors may be trusted now: `state` is not stopped, synced once, confirmed within maxStaleness. */
  assert(state: string): void {
    if (state === 'stopped') throw new NotServingError('cache stopped');
    if (this.confirmedAt === Number.NEGATIVE_INFINITY) throw new NotServingError(`cache ${state}`);
    const stale = this.stalenessMs();
    if (stale > this.maxStaleness()) throw new CacheStaleError(Math.round(stale));
  }

  /** True when reads may be served in `state`. */
  isFresh(state: string): boolean {
    try {
      this.assert(state);
      return true;
    } catch {
      return false;
    }
  }

  /** Calls onChange when the verdict differs from the last one reported. */
  report(state: string): void {
    const fresh = this.isFresh(state);
    if (fresh === this.lastFresh) return;
    this.lastFresh = fresh;
    this.onChange(fresh);
  }

  /**
   * One proof: read the revision with a quorum, wait until the watch has applied it, then confirm
   * the time the read was sent. Resolves with the revision read.
   */
  async prove(steps: ProofSteps, state: () => string): Promise<number> {
    const sentAt = this.now();
    const revision = await steps.readRevision();
    // etcd has a quorum again while the watch waits out its backoff: reconnect now.
    steps.quorumSeen();
    await steps.appliedUpTo(revision);
    // Everything committed before the read was sent is in the mirrors now.
    this.confirm(sentAt);
    this.report(state());
    return revision;
  }
}
