import type { SessionRecord } from './session.js';

/** A session as stored, with the store's bookkeeping needed for compare-and-swap writes. */
export interface StoredSession {
  /** Hash of the secret id: the only identity the store sees. */
  readonly hash: string;
  readonly rec: SessionRecord;
  readonly modRevision: number;
  readonly createRevision: number;
  /** Lease id of all the session's keys ('0' = none). */
  readonly lease: string;
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

/** SessionStore is the port through which the core reads and writes sessions (etcd in production). */
export interface SessionStore {
  create(hash: string, rec: SessionRecord, attributes: ReadonlyMap<string, Uint8Array>, etags: ReadonlyMap<string, string>, ttlMs: number): Promise<StoredSession>;
  /** Linearizable read; `revision` is the store revision the read saw. */
  get(hash: string): Promise<{ session: StoredSession | null; revision: number }>;
  /** Replaces the record if unchanged since `prev`, re-leasing all of its keys for `ttlMs`. */
  update(prev: StoredSession, next: SessionRecord, ttlMs: number): Promise<CasResult>;
  /** Deletes the session and all its keys if it is still the incarnation `s`; false if it was gone. */
  end(s: StoredSession): Promise<boolean>;
  getAttribute(hash: string, name: string): Promise<StoredAttribute | null>;
  /** Writes an attribute; throws EtagMismatchError / AttributeExistsError; CAS failure on session changes. */
  setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult>;
  /** Deletes an attribute; throws AttributeNotFoundError / EtagMismatchError; CAS failure on session changes. */
  deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult>;
}
