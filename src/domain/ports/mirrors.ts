// Ports the use cases read through: the watch-fed mirrors, their freshness, this node's presence keys.
import type { StoredSession } from './sessions.js';

/**
 * SessionMirror is the node-local, watch-fed copy of the session records that the core answers reads
 * from (the session cache in production); the core also writes its own results into it at once.
 */
export interface SessionMirror {
  /** The mirrored session, or undefined when the mirror holds none. */
  get(hash: string): StoredSession | undefined;
  /** Whether the stored record exists but cannot be decoded (answered as UNREADABLE_RECORD). */
  isUnreadable(hash: string): boolean;
  /** Stores a session this node read or wrote, unless the mirror already holds a newer version. */
  upsert(s: StoredSession): unknown;
  /** Drops a session this node ended, unless the mirror holds a newer incarnation. */
  forget(hash: string, incarnation: number): void;
  /** Every mirrored session (any order). */
  values(): Iterable<StoredSession>;
  /** Registers a listener told whenever a session leaves the mirror. */
  onDelete(listener: (hash: string) => void): unknown;
}

/** PresenceMirror is the node-local copy of every node's published presence (connections and heartbeating instances). */
export interface PresenceMirror {
  /** Whether any node holds an open connection of the session. */
  hasConnection(hash: string): boolean;
  /** Whether any node reports the session present (a connection or a recent heartbeat). */
  hasPresence(hash: string): boolean;
  /** Since when this node has known the session to be without a connection anywhere (never earlier than it could know). */
  lostSince(hash: string): number;
  /** Whether a node other than `nodeId` holds an open connection of the session. */
  hasConnectionElsewhere(hash: string, nodeId: string): boolean;
}

/** A registered replica as the node list shows it. */
export interface NodeInfo {
  readonly nodeId: string;
  readonly startTime: number;
  readonly configVersion: string;
}

/** FreshnessGate says whether the mirrors may be trusted and lets a reader wait until they have caught up. */
export interface FreshnessGate {
  /** Throws CacheStaleError / NotServingError when the mirror must not be trusted. */
  assertFresh(): void;
  /** Resolves once the mirror holds every change committed before the call (a shared quorum read). */
  sync(): Promise<number>;
}

/** PresenceStore is the port to this node's presence keys (one per session, under the node's liveness tag). */
export interface PresenceStore {
  /**
   * Publishes this node's (connections, instances) for a session, tied to the node's liveness tag so
   * it disappears with the node; false when the session no longer exists.
   */
  publish(hash: string, connections: number, instances: number, liveness: string): Promise<boolean>;
  /** Removes this node's presence for a session. */
  withdraw(hash: string): Promise<void>;
}
