import type { IKeyValue } from 'etcd3';
import type { Clock } from '../domain/clock.js';
import { decodePresence } from '../store/etcd/codec.js';
import type { Keys } from '../store/etcd/keys.js';
import type { MirrorChannel } from './mirror-channel.js';

interface NodePresence {
  connections: number;
  instances: number;
}

/**
 * PresenceChannel mirrors the presence keys of every node (ARCHITECTURE decision 3): which sessions
 * have an open connection or a recently heart-beating instance somewhere, and since when a session's
 * last connection has been seen gone (node death shows up as its keys vanishing with its lease).
 */
export class PresenceChannel implements MirrorChannel {
  readonly prefix: string;
  private readonly bySession = new Map<string, Map<string, NodePresence>>();
  private readonly goneAt = new Map<string, number>();
  private syncedAt = 0;

  constructor(
    private readonly keys: Keys,
    private readonly clock: Clock,
  ) {
    this.prefix = keys.presenceAll();
  }

  private connected(hash: string): boolean {
    const m = this.bySession.get(hash);
    if (!m) return false;
    for (const p of m.values()) if (p.connections > 0) return true;
    return false;
  }

  private set(hash: string, nodeId: string, p: NodePresence | null): void {
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

  replaceAll(kvs: readonly IKeyValue[]): void {
    const before = new Set([...this.bySession.keys()].filter((h) => this.connected(h)));
    this.bySession.clear();
    for (const kv of kvs) {
      const k = this.keys.parsePresenceKey(kv.key.toString());
      if (k) this.set(k.hash, k.nodeId, decodePresence(kv.value));
    }
    const now = this.clock.now();
    for (const h of before) if (!this.connected(h)) this.goneAt.set(h, now);
    if (this.syncedAt === 0) this.syncedAt = now;
  }

  put(kv: IKeyValue): void {
    const k = this.keys.parsePresenceKey(kv.key.toString());
    if (k) this.set(k.hash, k.nodeId, decodePresence(kv.value));
  }

  delete(kv: IKeyValue): void {
    const k = this.keys.parsePresenceKey(kv.key.toString());
    if (k) this.set(k.hash, k.nodeId, null);
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
