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
  /** Applies a put (kv holds the new value). */
  put(kv: IKeyValue): void;
  /** Applies a delete (kv.mod_revision is the delete's revision). */
  delete(kv: IKeyValue): void;
}
