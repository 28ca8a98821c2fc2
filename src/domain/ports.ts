import type { SessionEvent } from './events.js';
import type { LoginFamily } from './login-family.js';
import type { ClusterPolicy } from './policy.js';
import type { ExistingSession, LoginPlan } from './login.js';
import type { EndReason, SessionRecord } from './session.js';

/**
 * A session as stored, with the store's bookkeeping needed for compare-and-swap writes. Versions are
 * opaque to the core: it only compares them (higher = later) and hands them back to the store.
 */
export interface StoredSession {
  /** Hash of the secret id: the only identity the store sees. */
  readonly hash: string;
  readonly rec: SessionRecord;
  /** Version of this state of the record; every write raises it. */
  readonly version: number;
  /** Version at which this incarnation of the session was created (a re-created id gets a higher one). */
  readonly incarnation: number;
  /** The store's own tag for the record's storage (opaque to the core, handed back on writes). */
  readonly storeTag: string;
}

/** An attribute value with its etag. */
export interface StoredAttribute {
  readonly value: Uint8Array;
  readonly etag: string;
}

/** The condition of an attribute write. */
export interface AttributeCondition {
  /** Succeed only if the current etag equals this. */
  readonly etag?: string;
  /** Succeed only if the attribute does not exist. */
  readonly createOnly?: boolean;
}

/** The result of a compare-and-swap write: done, or the session changed (current is its new state, null if gone). */
export type CasResult = { ok: true; session: StoredSession } | { ok: false; current: StoredSession | null };

/** A login to store: the new session plus the rules that may refuse it or end older sessions. */
export interface LoginRequest {
  readonly hash: string;
  readonly rec: SessionRecord;
  readonly attributes: ReadonlyMap<string, Uint8Array>;
  readonly etags: ReadonlyMap<string, string>;
  readonly ttlMs: number;
  /** Decides against the user's existing sessions (pure: domain/login.ts). */
  readonly plan: (existing: readonly ExistingSession[]) => LoginPlan;
  /** False when no per-user rule applies to this client type: the existing sessions need not be read. */
  readonly userRules: boolean;
  /** session.max-sessions; 0 = unlimited. */
  readonly maxSessions: number;
  /** A persistent-login family to write in the same txn (issue or resume, SPEC rule 19). */
  readonly token?: LoginTokenWrite;
}

/** A persistent-login family write that rides in a login's txn; the login fails (LoginFamilyChangedError) if the family changed since read. */
export interface LoginTokenWrite {
  readonly familyId: string;
  readonly family: LoginFamily;
  /** Version the family had when read; 0 = a new family. */
  readonly expectMod: number;
  /** Hash of the family's new current token. */
  readonly tokenHash: string;
}

/** A stored token family with its (opaque) version, for compare-and-swap. */
export interface StoredFamily {
  readonly id: string;
  readonly family: LoginFamily;
  readonly version: number;
}

/** LoginFamilyStore is the port to the persistent-login token families (etcd in production). */
export interface LoginFamilyStore {
  /** The family a token hash belongs to (spent or current), or null when unknown. Linearizable. */
  byToken(tokenHash: string): Promise<StoredFamily | null>;
  /** A family by id, or null. Linearizable. */
  get(familyId: string): Promise<StoredFamily | null>;
  /** Marks the family revoked if unchanged since `f` was read; false when it changed meanwhile. */
  revoke(f: StoredFamily, reason: EndReason, now: number): Promise<boolean>;
  /** Ids of a user's families at a site. */
  ofUser(site: string, user: string): Promise<string[]>;
  /**
   * Removes families that expired (lifetime or inactivity) before `now`, each with its current and
   * last spent token key and its user index entry, fenced on scavenger leadership. Returns how many.
   */
  sweepExpired(now: number, fence: Fence): Promise<number>;
}

/** Options of SessionStore.revokeUser: a session to keep (EndMySessions "others") and the end reason (default REVOKED). */
export interface RevokeUserOptions {
  readonly keep?: string;
  readonly reason?: EndReason;
}

/** One session to end, with its reason. */
export interface EndItem {
  readonly s: StoredSession;
  readonly reason: EndReason;
}

/** The leadership fence of a scavenger write: the leader key and the incarnation (opaque version) it had when elected. */
export interface Fence {
  readonly key: string;
  readonly incarnation: number;
}

/** What a fenced batch did. */
export interface FencedResult {
  /** Sessions ended. */
  readonly ended: readonly EndItem[];
  /** Sessions skipped because they changed since they were read (touched a moment ago). */
  readonly changed: number;
  /** True when the fence failed: this node is no longer the leader and nothing was written. */
  readonly fencedOut: boolean;
}

// ---- config port

/** A validated configuration with the version (content hash) it came from. */
export interface LoadedConfig {
  readonly policy: ClusterPolicy;
  /** First 12 hex digits of the SHA-256 of the properties text; changes whenever the text does. */
  readonly version: string;
  /** Where it was read from (a path, `configmap ns/name`, `test`). */
  readonly source: string;
}

/**
 * ConfigSource holds the configuration in force and tells listeners when a new valid one arrives
 * (SPEC rule 16). Implemented by a fixed source (start-up file, tests) and the live file and
 * Kubernetes sources in config/.
 */
export interface ConfigSource {
  /** The configuration in force. */
  current(): LoadedConfig;
  /** Calls `listener` with each new valid configuration; returns the unsubscribe. */
  onChange(listener: (next: LoadedConfig) => void): () => void;
  /** The last rejected update, naming every bad key; '' when the last update was good. */
  lastError?(): string;
}

/** SessionStore is the port through which the core reads and writes sessions (etcd in production). */
export interface SessionStore {
  /** Applies the login rules and writes the new session, atomically; retries races internally. */
  login(req: LoginRequest): Promise<{ session: StoredSession; ended: readonly EndItem[] }>;
  /** Linearizable read; `revision` is the store revision the read saw. */
  get(hash: string): Promise<{ session: StoredSession | null; revision: number }>;
  /** Replaces the record if unchanged since `prev`, re-leasing all of its keys for `ttlMs`. */
  update(prev: StoredSession, next: SessionRecord, ttlMs: number): Promise<CasResult>;
  /** Ends the session (deleting all its keys, writing its event) if it is still the incarnation `s`. */
  end(s: StoredSession, reason: EndReason): Promise<boolean>;
  /** Ends sessions in fenced batches; each is skipped if it changed since read. */
  endFenced(items: readonly EndItem[], fence: Fence): Promise<FencedResult>;
  /** Moves a session to a new id (re-authentication); null when the old session changed meanwhile. */
  reauthenticate(old: StoredSession, newHash: string, next: SessionRecord, ttlMs: number): Promise<StoredSession | null>;
  /**
   * Ends every session of a user at a site as REVOKED so that no racing login or re-authentication
   * escapes (each fails or is caught by a later round); returns the sessions ended.
   */
  revokeUser(site: string, user: string, opts?: RevokeUserOptions): Promise<EndItem[]>;
  /** Linearizable read of a session and, when it was re-authenticated, its successor's hash. */
  getOrSuccessor(hash: string): Promise<{ session: StoredSession | null; successor: string | null; successorAt: number }>;
  /** Hashes of a user's sessions at a site, from the user index. */
  userSessions(site: string, user: string): Promise<string[]>;
  /**
   * Records when a connection-bound session lost its last connection (`at`, wall ms; 0 = attached
   * again) if the record is unchanged since `s`; the record keeps its storage (this is not a touch).
   * Returns the new state, or null when the session changed or is gone (re-read and retry).
   */
  setConnectionLost(s: StoredSession, at: number): Promise<StoredSession | null>;
  getAttribute(hash: string, name: string): Promise<StoredAttribute | null>;
  /** Writes an attribute; throws EtagMismatchError / AttributeExistsError; CAS failure on session changes. */
  setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult>;
  /** Deletes an attribute; throws AttributeNotFoundError / EtagMismatchError; CAS failure on session changes. */
  deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult>;
}

// ---- store ports (node registry, event log)

/** A lifecycle event with the opaque token that resumes a stream right after it (SPEC rule 18). */
export interface EventEnvelope {
  readonly token: string;
  readonly event: SessionEvent;
}

/**
 * EventLog is the port to the retained lifecycle events (SPEC rule 18): a total order with a resume
 * token per event, so a reader that reconnects misses nothing and sees nothing twice.
 */
export interface EventLog {
  /** Checks a resume token's form; throws InvalidResumeTokenError. */
  validateToken(token: string): void;
  /** Yields events after `token` ('' = from now) until `signal` aborts; throws StoreUnavailableError when the store fails. */
  stream(token: string, signal: AbortSignal): AsyncIterable<EventEnvelope>;
}

/**
 * NodeRegistration is the port to this node's registration in the cluster: the opaque tag of its
 * liveness (presence is written under it, so it vanishes with the node) and a re-publish.
 */
export interface NodeRegistration {
  /** The node's liveness tag; '0' before start and while it is being re-acquired. */
  readonly leaseId: string;
  /** Rewrites the registration (after a config change; periodically with the wall time). */
  refresh(): Promise<void>;
}

// ---- app-facing ports (mirror, presence, freshness)

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
