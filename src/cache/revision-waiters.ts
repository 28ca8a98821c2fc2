/** One caller waiting for a revision. */
interface Waiter {
  revision: number;
  /** What must reach `revision`. */
  progress: () => number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/** Options of RevisionWaiters. */
export interface RevisionWaitersOptions {
  /** How long a caller waits before it is rejected. Required. */
  timeoutMs: number;
  /** Asks etcd for a progress notification (other prefixes may have moved the revision past the last event sent). */
  requestProgress: () => void;
  /** The rejection of a caller that waited too long. */
  timeoutError: () => Error;
}

/**
 * RevisionWaiters holds the callers waiting for the watch to reach a revision (a proof or a miss's
 * sync): woken after every response the watch applies, rejected after timeoutMs.
 */
export class RevisionWaiters {
  private waiters: Waiter[] = [];

  constructor(private readonly options: RevisionWaitersOptions) {}

  /** Callers waiting now. */
  get size(): number {
    return this.waiters.length;
  }

  /** Waits until `progress()` reaches `revision`, asking etcd for a progress notification meanwhile. */
  waitFor(revision: number, progress: () => number): Promise<void> {
    if (progress() >= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(this.options.timeoutError());
      }, this.options.timeoutMs);
      timer.unref();
      const waiter: Waiter = { revision, progress, resolve, timer };
      this.waiters.push(waiter);
      // Other prefixes may have moved etcd's revision past the last event we were sent: a progress
      // notification tells every watcher on the stream it has everything up to the current revision.
      this.options.requestProgress();
    });
  }

  /** Resolves every caller whose revision was reached. */
  wake(): void {
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.revision <= w.progress()) {
        clearTimeout(w.timer);
        w.resolve();
      } else still.push(w);
    }
    this.waiters = still;
  }

  /** Drops every caller without settling it (the feed stopped). */
  clear(): void {
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters = [];
  }
}
