import type { ClientType } from './client-type.js';
import type { SessionPolicy } from './policy.js';

/** The live states a stored session can be in; ended sessions are removed, not stored. */
export type LiveState = 'ACTIVE' | 'REAUTH_REQUIRED';

/** Why a session ended (SPEC: concepts). */
export type EndReason =
  | 'LOGGED_OUT'
  | 'EXPIRED_IDLE'
  | 'EXPIRED_SINGLE_REQUEST'
  | 'EXPIRED_ABSOLUTE'
  | 'CONNECTION_LOST'
  | 'REVOKED'
  | 'REPLACED'
  | 'HIT_LIMIT'
  | 'TOKEN_REUSED';

/**
 * SessionRecord is a session as the core sees it. It never holds the secret id: the store keys it by
 * a hash of the id.
 */
export interface SessionRecord {
  readonly site: string;
  readonly user: string;
  readonly clientType: ClientType;
  readonly deviceId: string;
  readonly createdAt: number;
  readonly lastAccessAt: number;
  readonly hits: number;
  readonly state: LiveState;
  /** Epoch ms when re-authentication becomes required; 0 = never. */
  readonly absoluteDeadline: number;
  readonly policy: SessionPolicy;
  readonly attributeNames: readonly string[];
  /**
   * Connection-bound sessions: when the last connection was seen to go; 0 while one is attached.
   * A new connection-bound session starts "lost" at its creation: it must attach within the grace.
   */
  readonly connectionLostAt: number;
  /** Salted hashes of the IP / user agent the session is bound to ('' = not bound; SPEC rule 13). */
  readonly binding: Binding;
  /** Id of the persistent-login family the session belongs to (SPEC rule 19); absent/'' = none. */
  readonly loginFamily?: string;
}

/** What a session is bound to, as salted hashes ('' = not bound). */
export interface Binding {
  readonly ipHash: string;
  readonly userAgentHash: string;
  /** Random salt of both hashes, kept across re-authentication; absent/'' = previous format, salted with the session id. */
  readonly salt?: string;
}

/** Activity: the part of a record that touches change. */
export interface Activity {
  readonly lastAccessAt: number;
  readonly hits: number;
}

/** Builds the record of a new session created at `now`. */
export function newSessionRecord(input: {
  site: string;
  user: string;
  clientType: ClientType;
  deviceId: string;
  policy: SessionPolicy;
  attributeNames: readonly string[];
  now: number;
  binding?: Binding;
}): SessionRecord {
  return {
    site: input.site,
    user: input.user,
    clientType: input.clientType,
    deviceId: input.deviceId,
    createdAt: input.now,
    lastAccessAt: input.now,
    hits: 0,
    state: 'ACTIVE',
    absoluteDeadline: input.policy.absoluteMs > 0 ? input.now + input.policy.absoluteMs : 0,
    policy: input.policy,
    attributeNames: [...input.attributeNames],
    connectionLostAt: input.now,
    binding: input.binding ?? { ipHash: '', userAgentHash: '' },
  };
}
