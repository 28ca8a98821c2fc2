import type { StoredSession } from '../../../src/domain/ports.js';
import type { ActivityLog, LocalPresence } from '../../../src/app/sessions/types.js';
import type { Activity, SessionRecord } from '../../../src/domain/session.js';

/** This node's presence bookkeeping in memory: connection counts and heartbeats per session. */
export class FakeLocalPresence implements LocalPresence {
  readonly connections = new Map<string, number>();
  readonly heartbeats: Array<[string, string]> = [];
  readonly forgotten: string[] = [];
  /** attach() answers this (false: the session is gone). */
  attachOk = true;
  hasConnection(hash: string): boolean {
    return (this.connections.get(hash) ?? 0) > 0;
  }
  heartbeat(hash: string, instanceId: string): void {
    this.heartbeats.push([hash, instanceId]);
  }
  async attach(hash: string): Promise<boolean> {
    if (!this.attachOk) return false;
    this.connections.set(hash, (this.connections.get(hash) ?? 0) + 1);
    return true;
  }
  async detach(hash: string): Promise<boolean> {
    const n = (this.connections.get(hash) ?? 0) - 1;
    if (n > 0) this.connections.set(hash, n);
    else this.connections.delete(hash);
    return n <= 0;
  }
  forget(hash: string): void {
    this.forgotten.push(hash);
    this.connections.delete(hash);
  }
}

/** Activity kept in memory, never written (the write-behind is TouchWriter's own test). */
export class FakeActivityLog implements ActivityLog {
  readonly pending = new Map<string, Activity>();
  ttlMs = 60_000;
  activity(stored: StoredSession): Activity | undefined {
    return this.pending.get(stored.hash);
  }
  record(stored: StoredSession, activity: Activity): void {
    this.pending.set(stored.hash, activity);
  }
  ttlFor(_rec: SessionRecord): number {
    return this.ttlMs;
  }
  forget(hash: string): void {
    this.pending.delete(hash);
  }
}
