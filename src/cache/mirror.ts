import type { IKeyValue } from 'etcd3';
import { Listeners, type Listener, type Unsubscribe } from '../lifecycle/listeners.js';

/** Why an entry changed: a watch event, a (re)list, or a value this node read or wrote itself. */
export type MirrorCause = 'watch' | 'list' | 'local';

/** The typed events of a Mirror (client-go's add/update/delete handlers, plus the end of a relist). */
export interface MirrorEvents<V> {
  /** An id entered the mirror. */
  add: [id: string, value: V, cause: MirrorCause];
  /** A held id got a newer value (a relist reports it only when the version differs). */
  update: [id: string, value: V, old: V, cause: MirrorCause];
  /** An id left the mirror: deleted, buried, unreadable now, or missing from a relist. */
  delete: [id: string, old: V, cause: MirrorCause];
  /** A list replaced the whole mirror at `revision` (after its add/update/delete events). */
  replaced: [revision: number];
}

/** A relist in progress: pages of one revision are decoded as they arrive, then commit (or nothing, if the relist failed). */
export interface MirrorListing {
  /** Decodes one page of the list. */
  add(kvs: readonly IKeyValue[]): void;
  /** Replaces the mirror with everything added, as read at `revision`. */
  commit(revision: number): void;
}

/**
 * MirrorSink is what a WatchFeed feeds: one key prefix, listed page by page at one revision, then
 * every change in revision order. Mirror implements it; tests may fake it.
 */
export interface MirrorSink {
  /** The key prefix mirrored. */
  readonly prefix: string;
  /** Starts a streaming relist (pages, then commit at the list's revision). */
  beginList(): MirrorListing;
  /** Applies a put (kv holds the new value; kv.mod_revision is its revision). */
  put(kv: IKeyValue): void;
  /** Applies a delete (kv.mod_revision is the delete's revision). */
  delete(kv: IKeyValue): void;
}

/**
 * The tombstone hook of a Mirror (ARCHITECTURE decision 11, "a delete wins"): it hears every delete,
 * held or not, and may refuse a value that a delete already removed, whatever path brings it.
 */
export interface MirrorTombstoneHook<V> {
  /** Every incarnation of `id` created at or below `createdUpTo` is gone for good. */
  mark(id: string, createdUpTo: number): void;
  /** True when `value` belongs to an incarnation a mark removed: it must not enter the mirror. */
  buries(id: string, value: V): boolean;
}

/** Options of Mirror. */
export interface MirrorOptions<V> {
  /** The key prefix mirrored. Required. */
  prefix: string;
  /** The id of a key, or undefined for a key inside the prefix that is not a record (e.g. a sync marker). Required. */
  idOf(key: Buffer): string | undefined;
  /**
   * Decodes a value; undefined skips the put (the held value stays). A throw marks the id unreadable
   * (isUnreadable) and drops what was held. Required.
   */
  decode(id: string, kv: IKeyValue): V | undefined;
  /** The version of a value: the etcd mod revision it was written at. Required. */
  versionOf(value: V): number;
  /** Tombstones (the session mirror). Default: none; bury() then throws. */
  tombstones?: MirrorTombstoneHook<V>;
  /** Told about every value that could not be decoded (for a log line). Default: nothing. */
  onUnreadable?: (id: string, err: unknown) => void;
  /** Receives a listener's exception (see Listeners). Default: rethrown asynchronously. */
  onListenerError?: (err: unknown) => void;
}

/**
 * Mirror<V> is the one in-memory mirror of an etcd prefix (client-go tools/cache style, ARCHITECTURE
 * decision 4): ids from keys, values from decode, list-replace at a revision, then puts and deletes
 * in revision order; an event at or below what it holds for that id — or at or below the last list's
 * revision — is stale and ignored. Typed listeners hear every add, update and delete.
 */
export class Mirror<V> implements MirrorSink {
  /** The key prefix mirrored. */
  readonly prefix: string;
  private entries = new Map<string, V>();
  private unreadable = new Set<string>();
  private listRevision = 0;
  private appliedRevision = 0;
  private readonly listeners: Listeners<MirrorEvents<V>>;

  constructor(private readonly options: MirrorOptions<V>) {
    if (!options.prefix) throw new Error('mirror: prefix is required');
    this.prefix = options.prefix;
    this.listeners = new Listeners<MirrorEvents<V>>(options.onListenerError);
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.size;
  }

  /** The revision of the last list or watch event applied (0 before the first list). */
  get revision(): number {
    return this.appliedRevision;
  }

  /** The value held for `id`. */
  get(id: string): V | undefined {
    return this.entries.get(id);
  }

  /** True when `id` is held. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The values held (live view: a relist swaps the map, an iterator keeps the old one). */
  values(): IterableIterator<V> {
    return this.entries.values();
  }

  /** The ids held. */
  ids(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** True when etcd holds a value under `id` that could not be decoded. */
  isUnreadable(id: string): boolean {
    return this.unreadable.has(id);
  }

  /** Subscribes to add, update, delete or replaced; returns the unsubscribe. */
  on<K extends keyof MirrorEvents<V>>(event: K, fn: Listener<MirrorEvents<V>, K>): Unsubscribe {
    return this.listeners.on(event, fn);
  }

  /** Decodes a kv: a value, undefined (skip), or the id alone when it cannot be decoded. */
  private decode(id: string, kv: IKeyValue): { value: V | undefined } | { unreadable: true } {
    try {
      return { value: this.options.decode(id, kv) };
    } catch (err) {
      this.options.onUnreadable?.(id, err);
      return { unreadable: true };
    }
  }

  // ---- fed by the watch (MirrorSink)

  /** Starts a streaming relist: pages are decoded as they come, so a huge prefix is never held undecoded. */
  beginList(): MirrorListing {
    const next = new Map<string, V>();
    const unreadable = new Set<string>();
    return {
      add: (kvs) => {
        for (const kv of kvs) {
          const id = this.options.idOf(kv.key);
          if (id === undefined) continue;
          const d = this.decode(id, kv);
          if ('unreadable' in d) unreadable.add(id);
          else if (d.value !== undefined) next.set(id, d.value);
        }
      },
      commit: (revision) => this.replace(next, revision, unreadable),
    };
  }

  /** Replaces the mirror with a complete list read at `revision` (the non-streaming form of beginList). */
  replaceAll(kvs: readonly IKeyValue[], revision: number): void {
    const listing = this.beginList();
    listing.add(kvs);
    listing.commit(revision);
  }

  /** Applies a watched put; stale or buried values are ignored. */
  put(kv: IKeyValue): void {
    const id = this.options.idOf(kv.key);
    const rev = Number(kv.mod_revision);
    this.advance(rev);
    if (id === undefined || rev <= this.listRevision) return;
    const d = this.decode(id, kv);
    // An unreadable value replaces whatever was held, without a version check (as before Mirror).
    if ('unreadable' in d) this.markUnreadable(id, 'watch');
    else if (d.value !== undefined) this.set(id, d.value, 'watch');
  }

  /** Applies a watched delete at kv.mod_revision. */
  delete(kv: IKeyValue): void {
    const id = this.options.idOf(kv.key);
    const rev = Number(kv.mod_revision);
    this.advance(rev);
    if (id === undefined || rev <= this.listRevision) return;
    this.deleteAt(id, rev, 'watch');
  }

  private advance(revision: number): void {
    if (revision > this.appliedRevision) this.appliedRevision = revision;
  }

  // ---- the core, also used by owners (SessionCache) for what they read or wrote themselves

  /**
   * Replaces every entry with `next` (decoded, read at `revision`; the map is taken over). Buried
   * values are dropped; ids no longer present are deleted and, with tombstones, buried at `revision`.
   */
  replace(next: Map<string, V>, revision: number, unreadable: ReadonlySet<string> = new Set()): void {
    const t = this.options.tombstones;
    if (t) for (const [id, v] of next) if (t.buries(id, v)) next.delete(id);
    const old = this.entries;
    this.entries = next;
    this.unreadable = new Set(unreadable);
    this.listRevision = revision;
    this.advance(revision);
    for (const [id, v] of old) {
      if (next.has(id)) continue;
      t?.mark(id, revision);
      this.listeners.emit('delete', id, v, 'list');
    }
    // Skipped when nobody listens: the session mirror may hold millions of entries.
    if (this.listeners.count('add') > 0 || this.listeners.count('update') > 0) {
      const versionOf = this.options.versionOf;
      for (const [id, v] of next) {
        const o = old.get(id);
        if (o === undefined) this.listeners.emit('add', id, v, 'list');
        else if (versionOf(o) !== versionOf(v)) this.listeners.emit('update', id, v, o, 'list');
      }
    }
    this.listeners.emit('replaced', revision);
  }

  /**
   * Stores `value` unless it is buried or the mirror holds the same or a newer version of `id`.
   * Returns whether it was stored.
   */
  set(id: string, value: V, cause: MirrorCause = 'local'): boolean {
    if (this.options.tombstones?.buries(id, value)) return false;
    const cur = this.entries.get(id);
    if (cur !== undefined && this.options.versionOf(cur) >= this.options.versionOf(value)) return false;
    this.entries.set(id, value);
    this.unreadable.delete(id);
    if (cur === undefined) this.listeners.emit('add', id, value, cause);
    else this.listeners.emit('update', id, value, cur, cause);
    return true;
  }

  /**
   * Applies a delete seen at `revision`: with tombstones, every incarnation created before it is
   * buried whether or not the mirror held it; a held value older than `revision` leaves. (A held
   * version at or above a delete's revision belongs to a later incarnation: etcd never modifies a
   * key's incarnation after deleting it.)
   */
  deleteAt(id: string, revision: number, cause: MirrorCause = 'local'): void {
    this.unreadable.delete(id);
    this.options.tombstones?.mark(id, revision - 1);
    const cur = this.entries.get(id);
    if (cur !== undefined && this.options.versionOf(cur) < revision) this.remove(id, cur, cause);
  }

  /** Buries every incarnation of `id` created at or below `createdUpTo`, held or not (needs tombstones). */
  bury(id: string, createdUpTo: number): void {
    const t = this.options.tombstones;
    if (!t) throw new Error('mirror: bury needs tombstones');
    t.mark(id, createdUpTo);
    const cur = this.entries.get(id);
    if (cur !== undefined && t.buries(id, cur)) this.remove(id, cur, 'local');
  }

  /** Marks `id` as holding an undecodable value in etcd (what was held, if anything, leaves). */
  markUnreadable(id: string, cause: MirrorCause = 'local'): void {
    const cur = this.entries.get(id);
    if (cur !== undefined) this.remove(id, cur, cause);
    this.unreadable.add(id);
  }

  private remove(id: string, old: V, cause: MirrorCause): void {
    this.entries.delete(id);
    this.listeners.emit('delete', id, old, cause);
  }
}
