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

  private decode(kv: IKeyValue): StoredSession | null {
    const hash = this.keys.hashOfSessionKey(kv.key.toString());
    if (!hash) return null;
    try {
      return storedFromKv(hash, kv);
    } catch (err) {
      this.onUnreadable(err);
      return null;
    }
  }

  beginList(): MirrorListing {
    const next = new Map<string, StoredSession>();
    return {
      add: (kvs) => {
        for (const kv of kvs) {
          const s = this.decode(kv);
          if (s) next.set(s.hash, s);
        }
      },
      commit: () => this.cache.replaceAll(next),
    };
  }

  replaceAll(kvs: readonly IKeyValue[], revision: number): void {
    const listing = this.beginList();
    listing.add(kvs);
    listing.commit(revision);
  }

  put(kv: IKeyValue): void {
    const s = this.decode(kv);
    if (s) this.cache.upsert(s);
  }

  delete(kv: IKeyValue): void {
    const hash = this.keys.hashOfSessionKey(kv.key.toString());
    if (hash) this.cache.delete(hash, Number(kv.mod_revision));
  }
}
