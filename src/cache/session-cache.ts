import type { IKeyValue } from 'etcd3';
import type { StoredSession } from '../domain/ports.js';
import type { Unsubscribe } from '../lifecycle/listeners.js';
import { Keys } from '../store/etcd/keys.js';
import { storedFromKv } from '../store/etcd/session-kv.js';
import { Mirror } from './mirror.js';
import { Tombstones, type TombstonesOptions } from './tombstones.js';

/** Options of SessionCache. */
export interface SessionCacheOptions {
  /** The key layout; the mirror covers keys.sessions(). Default: the default prefix '/session-manager/'. */
  keys?: Keys;
  /** How long deletes are remembered (see Tombstones). Default 60 s. */
  tombstoneRetentionMs?: TombstonesOptions['retentionMs'];
  /** Monotonic time source of the tombstones. Default performance.now. */
  now?: () => number;
  /** Told about a session record that could not be decoded (it is reported unreadable). Default: nothing. */
  onUnreadable?: (err: unknown) => void;
}

/** A session key's hash part as the service writes it (ASCII, so its bytes are its characters). */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * SessionCache is the in-memory mirror of the session records, keyed by id hash: a Mirror of the
 * session prefix plus tombstones. It only ever moves forward: an entry is replaced only by a newer
 * mod revision, and a deleted incarnation never comes back — deletes leave tombstones, so a record
 * that was read before a delete and arrives after it (a slow etcd read, a compare-and-swap answer)
 * is refused whatever path brings it.
 */
export class SessionCache {
  /** The mirror the WatchFeed feeds (session prefix). */
  readonly mirror: Mirror<StoredSession>;
  private readonly tombstones: Tombstones;

  constructor(options: SessionCacheOptions = {}) {
    const keys = options.keys ?? new Keys('/session-manager/');
    this.tombstones = new Tombstones({ retentionMs: options.tombstoneRetentionMs ?? 60_000, ...(options.now ? { now: options.now } : {}) });
    const tombstones = this.tombstones;
    const onUnreadable = options.onUnreadable;
    this.mirror = new Mirror<StoredSession>({
      prefix: keys.sessions(),
      idOf: (key) => {
        const sliced = keys.hashOfSessionKey(key.toString());
        if (!sliced) return undefined;
        // The mirror keeps the hash for the session's lifetime: read it from the key bytes as a string
        // of its own, not a slice that would keep the whole key string alive beside it (~70 B per session).
        return BASE64URL.test(sliced) ? key.toString('latin1', key.length - sliced.length) : sliced;
      },
      decode: (hash: string, kv: IKeyValue) => storedFromKv(hash, kv),
      versionOf: (s) => s.version,
      tombstones: { mark: (hash, createdUpTo) => tombstones.mark(hash, createdUpTo), buries: (hash, s) => tombstones.buries(hash, s.incarnation) },
      ...(onUnreadable ? { onUnreadable: (_hash: string, err: unknown) => onUnreadable(err) } : {}),
    });
  }

  /** Number of sessions held. */
  get size(): number {
    return this.mirror.size;
  }

  /** Number of deletes remembered now. */
  get tombstoneCount(): number {
    return this.tombstones.size;
  }

  /** The session held under `hash`. */
  get(hash: string): StoredSession | undefined {
    return this.mirror.get(hash);
  }

  /** True when etcd holds a record under `hash` that could not be decoded. */
  isUnreadable(hash: string): boolean {
    return this.mirror.isUnreadable(hash);
  }

  /**
   * Stores `s` unless the cache already holds the same or a newer revision of it, or its incarnation
   * was deleted. Returns whether it was stored.
   */
  upsert(s: StoredSession): boolean {
    return this.mirror.set(s.hash, s);
  }

  /** Marks `hash` as holding an undecodable record in etcd (its old entry, if any, is gone). */
  markUnreadable(hash: string): void {
    this.mirror.markUnreadable(hash);
  }

  /**
   * Applies a delete seen at `revision` (a watch event or a relist): every incarnation created
   * before it is buried, whether or not the mirror held it.
   */
  delete(hash: string, revision: number): void {
    this.mirror.deleteAt(hash, revision);
  }

  /**
   * Forgets an incarnation this node ended itself, before the watch reports the delete: the
   * incarnation created at `incarnation` is buried.
   */
  forget(hash: string, incarnation: number): void {
    this.mirror.bury(hash, incarnation);
  }

  /**
   * Replaces the whole mirror after a relist at `revision`; entries missing from it are reported
   * deleted and buried at that revision.
   */
  replaceAll(next: Map<string, StoredSession>, revision: number, unreadable: ReadonlySet<string> = new Set()): void {
    this.mirror.replace(next, revision, unreadable);
  }

  /** Registers a listener told whenever an entry leaves the mirror; returns the unsubscribe. */
  onDelete(listener: (hash: string) => void): Unsubscribe {
    return this.mirror.on('delete', (hash) => listener(hash));
  }

  /** The sessions held. */
  values(): IterableIterator<StoredSession> {
    return this.mirror.values();
  }
}
