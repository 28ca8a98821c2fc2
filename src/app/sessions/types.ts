import type { Clock } from '../../domain/clock.js';
import type { Verdict } from '../../domain/decisions.js';
import type { FreshnessGate, LoginFamilyStore, PresenceMirror, SessionMirror, SessionStore, StoredSession } from '../../domain/ports.js';
import type { Activity, EndReason, LiveState, SessionRecord } from '../../domain/session.js';
import type { ConfigSource } from '../../domain/ports.js';
import type { ClientInfo } from '../bindings.js';
import type { NodeEvents } from '../node-events.js';

export type { ClientInfo } from '../bindings.js';

/** A session as returned to callers: the stored record with local activity and its standing now. */
export interface SessionView {
  readonly hash: string;
  readonly rec: SessionRecord;
  readonly state: LiveState;
  readonly idleDeadline: number;
}

/** How a session id is formed (SPEC rule 13). */
export type IdMode = 'TICKET' | 'CLIENT_ADDRESS';

/** Input of a login. */
export interface CreateInput {
  site: string;
  user: string;
  clientType: string;
  deviceId: string;
  attributes: ReadonlyMap<string, Uint8Array>;
  idMode?: IdMode;
  client?: ClientInfo;
  bindIp?: boolean;
  bindUserAgent?: boolean;
  /** Ask for a persistent-login token (SPEC rule 19). */
  persistent?: boolean;
}

/** One of a user's sessions as the user sees it (ListMySessions, SPEC rule 20). */
export interface MySessionView {
  readonly view: SessionView;
  readonly present: boolean;
  readonly persistent: boolean;
  readonly current: boolean;
}

/** Which of a user's sessions EndMySessions ends. */
export type MySessionsScope = 'OTHERS' | 'ALL' | 'ONE';

/** What identifies the session of a validated request: a ticket, or a CLIENT_ADDRESS site + client. */
export interface RequestIdentity {
  sessionId: string;
  idMode?: IdMode;
  site?: string;
  client?: ClientInfo;
}

/** The answer of a validate: the verdict and, when VALID, the session as the caller sees it. */
export interface ValidateResult {
  verdict: Verdict;
  view?: SessionView;
}

/** Counters for telemetry and tests. */
export interface ServiceStats {
  cacheHits: number;
  cacheMisses: number;
  verdicts: Record<Verdict, number>;
  created: number;
  ended: Partial<Record<EndReason, number>>;
}

/** Options of SessionService. */
export interface SessionServiceOptions {
  /** This node's id (presence bookkeeping). Required. */
  nodeId: string;
  /** HMAC key of CLIENT_ADDRESS ids; absent disables that mode. */
  idKey?: Buffer;
  /** Attempts of a compare-and-swap loop before giving up with CONCURRENT_UPDATE. Default 8. */
  maxCasAttempts?: number;
  /** Attempts of an exact hit-count write, which races every node serving the session. Default 64. */
  maxExactAttempts?: number;
  /** Most cache misses waiting for the mirror at once; more are refused with LOOKUP_BACKLOG_FULL. Default 10000. */
  maxPendingMisses?: number;
}

/** An open Attach connection; `detach` must be called exactly once when the stream closes. */
export interface Attachment {
  readonly hash: string;
  detach(): Promise<void>;
}

/** What the session use cases need from this node's own presence bookkeeping (PresenceTracker). */
export interface LocalPresence {
  /** Whether this node holds an open connection of the session. */
  hasConnection(hash: string): boolean;
  /** Marks an instance of the session present (a heartbeat). */
  heartbeat(hash: string, instanceId: string): void;
  /** Opens a connection; false when the session no longer exists. */
  attach(hash: string): Promise<boolean>;
  /** Closes a connection; true when this node holds none of the session any more. */
  detach(hash: string): Promise<boolean>;
  /** Forgets an ended session. */
  forget(hash: string): void;
}

/** What the session use cases need from the write-behind of activity (TouchWriter). */
export interface ActivityLog {
  /** The newest activity this node has seen for a session (written or not). */
  activity(stored: StoredSession): Activity | undefined;
  /** Records new activity and starts a write if the store is due for one. */
  record(stored: StoredSession, activity: Activity): void;
  /** Lease TTL for a record written now; 0 = no lease. */
  ttlFor(rec: SessionRecord): number;
  /** Forgets an ended session's pending activity. */
  forget(hash: string): void;
}

/** Everything SessionService works with. */
export interface SessionServiceDeps {
  store: SessionStore;
  cache: SessionMirror;
  feed: FreshnessGate;
  config: ConfigSource;
  clock: Clock;
  touches: ActivityLog;
  presence: LocalPresence;
  presenceMirror: PresenceMirror;
  events?: NodeEvents;
  /** Persistent-login token families (SPEC rule 19); absent, persistent logins are refused. */
  families?: LoginFamilyStore;
}
