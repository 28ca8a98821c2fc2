import type { StoredSession } from '../domain/ports.js';
import { Tombstones, type TombstonesOptions } from './tombstones.js';

/** Options of SessionCache. */
export interface SessionCacheOptions {
  /** How long deletes are remembered (see Tombstones). Default 60 s. */
  tombstoneRetentionMs?: TombstonesOptions['retentionMs'];
  /** Monotonic time source of the tombstones. Default performance.now. */
  now?: () => number;
}

/**
 * SessionCache is the in-memory mirror of the session records, keyed by id hash. It only ever moves
 * forward: an entry is replaced only by a newer mod revision, and a deleted incarnation never comes
 * back — deletes leave tombstones, so a record that was read before a delete and arrives after it
 * (a slow etcd read, a compare-and-swap answer) is refused whatever path brings it.
 */
export class SessionCache {
  private entries = new Map<string, StoredSession>();
  private readonly unreadable = new Set<string>();
  private readonly tombstones: Tombstones;
  private readonly deleteListeners: Array<(hash: string) => void> = [];

  constructor(options: SessionCacheOptions = {}) {
    this.tombstones = new Tombstones({ retentionMs: options.tombstoneRetentionMs ?? 60_000, ...(options.now ? { now: options.now } : {}) });
  }

  get size(): number {
    return this.entries.size;
  }

  /** Number of deletes remembered now. */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  get(hash: string): StoredSession | undefined {
    return this.entries.get(hash);
  }

  /** True when etcd holds a record under `hash` that could not be decoded. */
  isUnreadable(hash: string): boolean {
    return this.unreadable.has(hash);
  }

  /**
   * Stores `s` unless the cache already holds the same or a newer revision of it, or its incarnation
   * was deleted. Returns whether it was stored.
   */
  upsert(s: StoredSession): boolean {
    if (this.tombstones.buries(s.hash, s.incarnation)) return false;
    const cur = this.entries.get(s.hash);
    if (cur && cur.version >= s.version) return false;
    this.entries.set(s.hash, s);
    this.unreadable.delete(s.hash);
    return true;
  }

  /** Marks `hash` as holding an undecodable record in etcd (its old entry, if any, is gone). */
  markUnreadable(hash: string): void {
    if (this.entries.has(hash)) this.remove(hash);
    this.unreadable.add(hash);
  }

  /**
   * Applies a delete seen at `revision` (a watch event or a relist): every incarnation created
   * before it is buried, whether or not the mirror held it.
   */
  delete(hash: string, revision: number): void {
    this.unreadable.delete(hash);
    this.tombstones.mark(hash, revision - 1);
    const cur = this.entries.get(hash);
    if (cur && cur.incarnation < revision) this.remove(hash);
  }

  /**
   * Forgets an incarnation this node ended itself, before the watch reports the delete: the
   * incarnation created at `incarnation` is buried.
   */
  forget(hash: string, incarnation: number): void {
    this.tombstones.mark(hash, incarnation);
    const cur = this.entries.get(hash);
    if (cur && cur.incarnation <= incarnation) this.remove(hash);
  }

  private remove(hash: string): void {
    this.entries.delete(hash);
    for (const l of this.deleteListeners) l(hash);
  }

  /**
   * Replaces the whole mirror after a relist at `revision`; entries missing from it are reported
   * deleted and buried at that revision.
   */
  replaceAll(next: Map<string, StoredSession>, revision: number, unreadable: ReadonlySet<string> = new Set()): void {
    const old = this.entries;
    for (const [hash, s] of next) if (this.tombstones.buries(hash, s.incarnation)) next.delete(hash);
    this.entries = next;
    this.unreadable.clear();
    for (const hash of unreadable) this.unreadable.add(hash);
    for (const hash of old.keys()) {
      if (next.has(hash)) continue;
      this.tombstones.mark(hash, revision);
      for (const l of this.deleteListeners) l(hash);
    }
  }

  /** Registers a listener told whenever an entry leaves the mirror. */
  onDelete(listener: (hash: string) => void): void {
    this.deleteListeners.push(listener);
  }

  values(): IterableIterator<StoredSession> {
    return this.entries.values();
  }
}
