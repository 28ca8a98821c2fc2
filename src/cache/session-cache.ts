import type { StoredSession } from '../domain/ports.js';

/**
 * SessionCache is the in-memory mirror of the session records, keyed by id hash. It only ever moves
 * forward: an entry is replaced only by a newer mod revision, and a delete removes it only if the
 * delete is newer than what it holds, so events arriving twice or out of order cannot roll it back.
 */
export class SessionCache {
  private entries = new Map<string, StoredSession>();
  private readonly deleteListeners: Array<(hash: string) => void> = [];

  get size(): number {
    return this.entries.size;
  }

  get(hash: string): StoredSession | undefined {
    return this.entries.get(hash);
  }

  /** Stores `s` unless the cache already holds the same or a newer revision of it. */
  upsert(s: StoredSession): void {
    const cur = this.entries.get(s.hash);
    if (!cur || cur.modRevision < s.modRevision) this.entries.set(s.hash, s);
  }

  /** Removes the entry if the delete at `revision` is newer than it. */
  delete(hash: string, revision: number): void {
    const cur = this.entries.get(hash);
    if (cur && cur.modRevision < revision) {
      this.entries.delete(hash);
      for (const l of this.deleteListeners) l(hash);
    }
  }

  /** Replaces the whole mirror after a relist; entries missing from it are reported deleted. */
  replaceAll(next: Map<string, StoredSession>): void {
    const old = this.entries;
    this.entries = next;
    for (const hash of old.keys()) if (!next.has(hash)) for (const l of this.deleteListeners) l(hash);
  }

  /** Registers a listener told whenever an entry leaves the mirror. */
  onDelete(listener: (hash: string) => void): void {
    this.deleteListeners.push(listener);
  }

  values(): IterableIterator<StoredSession> {
    return this.entries.values();
  }
}
