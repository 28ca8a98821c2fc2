import type { Clock } from '../domain/clock.js';
import { decodePresence } from '../store/etcd/codec.js';
import type { Keys } from '../store/etcd/keys.js';
import { Mirror } from './mirror.js';

/** One node's presence key of one session, as mirrored. */
export interface PresenceEntry {
  /** The session's id hash. */
  readonly hash: string;
  /** The node that wrote the key. */
  readonly nodeId: string;
  /** Open connections (Attach streams) of the session on that node. */
  readonly connections: number;
  /** Recently heart-beating instances of the session on that node. */
  readonly instances: number;
  /** The key's mod revision. */
  readonly version: number;
}

/**
 * PresenceMirror mirrors the presence keys of every node (ARCHITECTURE decision 3): which sessions
 * have an open connection or a recently heart-beating instance somewhere, and since when a session's
 * last connection has been seen gone (node death shows up as its keys vanishing with its lease).
 * A Mirror of the presence prefix keyed by the full key, plus a per-session index its listeners keep.
 */
export class PresenceMirror {
  /** The mirror the WatchFeed feeds (presence prefix). */
  readonly mirror: Mirror<PresenceEntry>;
  private readonly bySession = new Map<string, Map<string, PresenceEntry>>();
  private readonly goneAt = new Map<string, number>();
  private syncedAt = 0;

  constructor(
    keys: Keys,
    private readonly clock: Clock,
  ) {
    this.mirror = new Mirror<PresenceEntry>({
      prefix: keys.presenceAll(),
      idOf: (key) => {
        const s = key.toString();
        return keys.parsePresenceKey(s) ? s : undefined;
      },
      decode: (id, kv) => {
        const k = keys.parsePresenceKey(id)!;
        return { hash: k.hash, nodeId: k.nodeId, ...decodePresence(kv.value), version: Number(kv.mod_revision) };
      },
      versionOf: (e) => e.version,
    });
    this.mirror.on('add', (_id, e) => this.set(e.hash, e.nodeId, e));
    this.mirror.on('update', (_id, e) => this.set(e.hash, e.nodeId, e));
    this.mirror.on('delete', (_id, e) => this.set(e.hash, e.nodeId, null));
    this.mirror.on('replaced', () => {
      if (this.syncedAt === 0) this.syncedAt = this.clock.now();
    });
  }

  private connected(hash: string): boolean {
    const m = this.bySession.get(hash);
    if (!m) return false;
    for (const p of m.values()) if (p.connections > 0) return true;
    return false;
  }

  private set(hash: string, nodeId: string, p: PresenceEntry | null): void {
    const was = this.connected(hash);
    let m = this.bySession.get(hash);
    if (p) {
      if (!m) this.bySession.set(hash, (m = new Map()));
      m.set(nodeId, p);
    } else if (m) {
      m.delete(nodeId);
      if (m.size === 0) this.bySession.delete(hash);
    }
    const is = this.connected(hash);
    if (was && !is) this.goneAt.set(hash, this.clock.now());
    if (is) this.goneAt.delete(hash);
  }

  /** True when some node holds an open connection of the session. */
  hasConnection(hash: string): boolean {
    return this.connected(hash);
  }

  /** True when some node reports a connection or a recently heart-beating instance (SPEC rule 5). */
  hasPresence(hash: string): boolean {
    return this.bySession.has(hash);
  }

  /**
   * Since when this node has known the session to be without connection: when it saw the last one go,
   * or else when it first synced (it cannot know earlier, so it never judges early).
   */
  lostSince(hash: string): number {
    return this.goneAt.get(hash) ?? this.syncedAt;
  }

  /** Forgets a session that ended. */
  forget(hash: string): void {
    this.goneAt.delete(hash);
  }

  /** True when a node other than `nodeId` holds an open connection of the session. */
  hasConnectionElsewhere(hash: string, nodeId: string): boolean {
    const m = this.bySession.get(hash);
    if (!m) return false;
    for (const [n, p] of m) if (n !== nodeId && p.connections > 0) return true;
    return false;
  }
}
