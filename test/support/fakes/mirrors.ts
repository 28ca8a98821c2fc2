import type { FreshnessGate, PresenceMirror, SessionMirror, StoredSession } from '../../../src/domain/ports.js';

/** An in-memory session mirror: a map that keeps the newest version of each session. */
export class MemoryMirror implements SessionMirror {
  readonly entries = new Map<string, StoredSession>();
  readonly unreadable = new Set<string>();
  private readonly listeners: Array<(hash: string) => void> = [];

  get(hash: string): StoredSession | undefined {
    return this.entries.get(hash);
  }
  isUnreadable(hash: string): boolean {
    return this.unreadable.has(hash);
  }
  upsert(s: StoredSession): boolean {
    const cur = this.entries.get(s.hash);
    if (cur && cur.version >= s.version) return false;
    this.entries.set(s.hash, s);
    return true;
  }
  forget(hash: string, incarnation: number): void {
    const cur = this.entries.get(hash);
    if (!cur || cur.incarnation > incarnation) return;
    this.entries.delete(hash);
    for (const l of this.listeners) l(hash);
  }
  values(): Iterable<StoredSession> {
    return this.entries.values();
  }
  onDelete(listener: (hash: string) => void): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }
}

/** A freshness gate that is fresh unless told otherwise; sync() runs `onSync` (e.g. the watch delivering a record). */
export class FakeFeed implements FreshnessGate {
  stale: Error | undefined;
  onSync: () => void = () => {};
  syncs = 0;
  assertFresh(): void {
    if (this.stale) throw this.stale;
  }
  async sync(): Promise<number> {
    this.syncs++;
    this.onSync();
    return this.syncs;
  }
}

/** Presence as other nodes published it: sets of hashes with connections / presence elsewhere. */
export class FakePresenceMirror implements PresenceMirror {
  readonly connected = new Map<string, string>(); // hash -> node id holding a connection
  readonly present = new Set<string>();
  readonly lost = new Map<string, number>();
  hasConnection(hash: string): boolean {
    return this.connected.has(hash);
  }
  hasPresence(hash: string): boolean {
    return this.present.has(hash) || this.connected.has(hash);
  }
  lostSince(hash: string): number {
    return this.lost.get(hash) ?? 0;
  }
  hasConnectionElsewhere(hash: string, nodeId: string): boolean {
    const n = this.connected.get(hash);
    return n !== undefined && n !== nodeId;
  }
}
