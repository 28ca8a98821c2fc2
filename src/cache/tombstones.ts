/** Options of Tombstones. */
export interface TombstonesOptions {
  /**
   * How long a tombstone is kept, in ms of `now()`. It must outlive every read that can still be in
   * flight when the delete is seen (etcd request deadline) and a few staleness windows. Required; a
   * function is read at every prune (config reloads).
   */
  retentionMs: number | (() => number);
  /** Monotonic time source. Default performance.now. */
  now?: () => number;
}

interface Tombstone {
  /** Every incarnation created at or below this revision is gone for good. */
  createdUpTo: number;
  /** When the tombstone was laid (now()). */
  at: number;
}

/**
 * Tombstones remember, for a while, which session records were deleted (ARCHITECTURE decision 11,
 * "a delete wins"): hash → the highest create revision that the delete removed. A record read from
 * etcd before a delete but delivered after it belongs to an incarnation created at or below that
 * revision, so it is refused; a new incarnation under the same hash (a CLIENT_ADDRESS id logged in
 * again) is created after the delete and passes.
 */
export class Tombstones {
  private readonly entries = new Map<string, Tombstone>();
  private readonly retention: () => number;
  private readonly now: () => number;

  constructor(options: TombstonesOptions) {
    const r = options.retentionMs;
    this.retention = typeof r === 'function' ? r : () => r;
    if (!(this.retention() > 0)) throw new Error('tombstones: retentionMs must be greater than 0');
    this.now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records that every incarnation of `hash` created at or below `createdUpTo` was deleted. */
  mark(hash: string, createdUpTo: number): void {
    const at = this.now();
    const cur = this.entries.get(hash);
    // Re-inserting keeps the map in lay order, so pruning only ever looks at the front.
    if (cur) this.entries.delete(hash);
    this.entries.set(hash, { createdUpTo: Math.max(createdUpTo, cur?.createdUpTo ?? 0), at });
    this.prune(at);
  }

  /** True when a record of `hash` created at `incarnation` was deleted and must not come back. */
  buries(hash: string, incarnation: number): boolean {
    const t = this.entries.get(hash);
    return t !== undefined && incarnation <= t.createdUpTo;
  }

  private prune(now: number): void {
    const horizon = now - this.retention();
    for (const [hash, t] of this.entries) {
      if (t.at > horizon) break;
      this.entries.delete(hash);
    }
  }
}
