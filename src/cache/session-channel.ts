import type { IKeyValue } from 'etcd3';
import type { StoredSession } from '../domain/ports.js';
import type { Keys } from '../store/etcd/keys.js';
import { storedFromKv } from '../store/etcd/session-store.js';
import type { MirrorChannel, MirrorListing } from './mirror-channel.js';
import type { SessionCache } from './session-cache.js';

/** SessionChannel feeds session records from etcd into the SessionCache. */
export class SessionChannel implements MirrorChannel {
  readonly prefix: string;

  constructor(
    private readonly keys: Keys,
    private readonly cache: SessionCache,
    private readonly onUnreadable: (err: unknown) => void,
  ) {
    this.prefix = keys.sessions();
  }

  /** Decodes a record; an undecodable one is reported and returned as its hash alone. */
  private decode(kv: IKeyValue): StoredSession | string | null {
    const hash = this.keys.hashOfSessionKey(kv.key.toString());
    if (!hash) return null;
    try {
      return storedFromKv(hash, kv);
    } catch (err) {
      this.onUnreadable(err);
      return hash;
    }
  }

  beginList(): MirrorListing {
    const next = new Map<string, StoredSession>();
    const unreadable = new Set<string>();
    return {
      add: (kvs) => {
        for (const kv of kvs) {
          const s = this.decode(kv);
          if (typeof s === 'string') unreadable.add(s);
          else if (s) next.set(s.hash, s);
        }
      },
      commit: (revision) => this.cache.replaceAll(next, revision, unreadable),
    };
  }

  replaceAll(kvs: readonly IKeyValue[], revision: number): void {
    const listing = this.beginList();
    listing.add(kvs);
    listing.commit(revision);
  }

  put(kv: IKeyValue): void {
    const s = this.decode(kv);
    if (typeof s === 'string') this.cache.markUnreadable(s);
    else if (s) this.cache.upsert(s);
  }

  delete(kv: IKeyValue): void {
    const hash = this.keys.hashOfSessionKey(kv.key.toString());
    if (hash) this.cache.delete(hash, Number(kv.mod_revision));
  }
}
