// Ports of the session store: records, logins, attributes, fenced ends, persistent-login families.
import type { LoginFamily } from '../login-family.js';
import type { ExistingSession, LoginPlan } from '../login.js';
import type { EndReason, SessionRecord } from '../session.js';

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
