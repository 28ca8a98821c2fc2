import { createHash } from 'node:crypto';

/**
 * Keys lays out the keyspace under one prefix. Sessions are keyed by the hash of their id, never the
 * id itself; site and user names are URI-encoded so a `/` in them cannot forge another key.
 *
 *   <prefix>s/<hash>                 session record
 *   <prefix>a/<hash>/<name>          one attribute
 *   <prefix>u/<site>/<user>/<hash>   user index (one session per user, per-user limits)
 *   <prefix>p/<hash>/<node>          presence of a session on one node (under the node lease)
 *   <prefix>n/<node>                 node registration (under the node lease)
 *   <prefix>e/<id>                   lifecycle event (under a retention lease)
 *   <prefix>m/last-create            touched by every login; guards the cluster-wide session cap
 *   <prefix>r/<sha256(site, user)>   revocation marker: rewritten by RevokeUserSessions, compared by
 *                                    re-authentications and rule-checked logins (short lease)
 *   <prefix>f/<hash>                 forward pointer of a re-authenticated session to its successor's
 *                                    hash (under the event retention lease)
 *   <prefix>lt/<sha256(token)>       persistent-login token → its family id (family's lifetime lease)
 *   <prefix>lf/<family id>           persistent-login family record (token hashes, sessions)
 *   <prefix>lu/<sha256(site, user)>/<family id>   a user's families (for revoke-all)
 *   <prefix>election/scavenger/...   scavenger election (etcd3 Election)
 */
export class Keys {
  readonly prefix: string;

  constructor(prefix: string) {
    if (!prefix.startsWith('/') || !prefix.endsWith('/')) {
      throw new Error(`keys: prefix must start and end with '/', got ${JSON.stringify(prefix)}`);
    }
    this.prefix = prefix;
  }

  /** Prefix of all session records. */
  sessions(): string {
    return `${this.prefix}s/`;
  }

  session(hash: string): string {
    return `${this.prefix}s/${hash}`;
  }

  /** Extracts the hash from a session record key, or null for other keys. */
  hashOfSessionKey(key: string): string | null {
    const p = this.sessions();
    // The bare prefix is the mirror's sync marker (syncMarker), not a session.
    return key.startsWith(p) && key.length > p.length ? key.slice(p.length) : null;
  }

  /**
   * The key nodes write to learn that their session watch has caught up (WatchFeed.sync): inside the
   * watched session range, so its event arrives in order with the sessions', but not a session and
   * outside sessionCountStart's range.
   */
  syncMarker(): string {
    return this.sessions();
  }

  /** Where a count of the stored sessions starts: just past the sync marker. */
  sessionCountStart(): string {
    return `${this.sessions()}\0`;
  }

  attributes(hash: string): string {
    return `${this.prefix}a/${hash}/`;
  }

  attribute(hash: string, name: string): string {
    return `${this.prefix}a/${hash}/${encodeURIComponent(name)}`;
  }

  userSessions(site: string, user: string): string {
    return `${this.prefix}u/${encodeURIComponent(site)}/${encodeURIComponent(user)}/`;
  }

  userIndex(site: string, user: string, hash: string): string {
    return `${this.userSessions(site, user)}${hash}`;
  }

  /** Prefix of all presence keys. */
  presenceAll(): string {
    return `${this.prefix}p/`;
  }

  presence(hash: string): string {
    return `${this.prefix}p/${hash}/`;
  }

  presenceKey(hash: string, nodeId: string): string {
    return `${this.prefix}p/${hash}/${encodeURIComponent(nodeId)}`;
  }

  /** Splits a presence key into session hash and node id, or null for other keys. */
  parsePresenceKey(key: string): { hash: string; nodeId: string } | null {
    const p = this.presenceAll();
    if (!key.startsWith(p)) return null;
    const rest = key.slice(p.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return null;
    return { hash: rest.slice(0, slash), nodeId: decodeURIComponent(rest.slice(slash + 1)) };
  }

  nodes(): string {
    return `${this.prefix}n/`;
  }

  node(nodeId: string): string {
    return `${this.prefix}n/${encodeURIComponent(nodeId)}`;
  }

  events(): string {
    return `${this.prefix}e/`;
  }

  event(id: string): string {
    return `${this.prefix}e/${id}`;
  }

  /** The revocation marker of a user at a site; the names are hashed so the key shows neither. */
  revocation(site: string, user: string): string {
    return `${this.prefix}r/${createHash('sha256').update(`${encodeURIComponent(site)}/${encodeURIComponent(user)}`).digest('base64url')}`;
  }

  /** The forward pointer from a re-authenticated session's hash to its successor's. */
  successor(hash: string): string {
    return `${this.prefix}f/${hash}`;
  }

  /** The key of a persistent-login token, by the token's hash (never the token). */
  loginToken(tokenHash: string): string {
    return `${this.prefix}lt/${tokenHash}`;
  }

  /** The record of a persistent-login token family. */
  loginFamily(familyId: string): string {
    return `${this.prefix}lf/${familyId}`;
  }

  /** Prefix of a user's token families at a site; the names are hashed so the key shows neither. */
  userFamilies(site: string, user: string): string {
    return `${this.prefix}lu/${createHash('sha256').update(`${encodeURIComponent(site)}/${encodeURIComponent(user)}`).digest('base64url')}/`;
  }

  lastCreate(): string {
    return `${this.prefix}m/last-create`;
  }
}

/** Returns the range end that covers every key starting with `prefix` (etcd's prefix convention). */
export function prefixEnd(prefix: string): Buffer {
  return prefixEndOf(Buffer.from(prefix));
}

/** prefixEnd for a prefix given as bytes. */
export function prefixEndOf(b: Buffer): Buffer {
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}
