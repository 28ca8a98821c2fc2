import type { IKeyValue } from 'etcd3';

/**
 * MirrorChannel is one key prefix a WatchFeed keeps in memory: it receives the full list after a
 * (re)list and every change after that, in revision order.
 */
export interface MirrorChannel {
  /** The key prefix mirrored. */
  readonly prefix: string;
  /** Replaces the whole mirror with a list read at one revision. */
  replaceAll(kvs: readonly IKeyValue[], revision: number): void;
  /**
   * Optional streaming form of replaceAll for large prefixes: pages arrive one by one and are
   * decoded as they come, so a relist of a million keys never holds them all undecoded.
   */
  beginList?(): MirrorListing;
  /** Applies a put (kv holds the new value). */
  put(kv: IKeyValue): void;
  /** Applies a delete (kv.mod_revision is the delete's revision). */
  delete(kv: IKeyValue): void;
}

/** A relist in progress: pages of one revision, then commit (or nothing, if the relist failed). */
export interface MirrorListing {
  add(kvs: readonly IKeyValue[]): void;
  commit(revision: number): void;
}
