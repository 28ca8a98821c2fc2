import type { IKeyValue } from 'etcd3';
import type { StoredSession } from '../domain/ports.js';
import type { Keys } from '../store/etcd/keys.js';
import { storedFromKv } from '../store/etcd/session-store.js';
import type { MirrorChannel, MirrorListing } from './mirror-channel.js';
import type { SessionCache } from './session-cache.js';

/** A session key's hash part as the service writes it (ASCII, so its bytes are its characters). */
const BASE64URL = /^[A-Za-z0-9_-]+$/;

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
    const sliced = this.keys.hashOfSessionKey(kv.key.toString());
    if (!sliced) return null;
    // The mirror keeps the hash for the session's lifetime: read it from the key bytes as a string of
    // its own, not a slice that would keep the whole key string alive beside it (~70 B per session).
    const hash = BASE64URL.test(sliced) ? kv.key.toString('latin1', kv.key.length - sliced.length) : sliced;
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
