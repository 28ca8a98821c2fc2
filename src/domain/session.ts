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
  /** When the session was created (epoch ms). */
  readonly createdAt: number;
  /** Last validated request or heartbeat (epoch ms; written behind, at touch granularity). */
  readonly lastAccessAt: number;
  /** Validated requests so far (heartbeats do not count). */
  readonly hits: number;
  /** ACTIVE, or REAUTH_REQUIRED once the absolute deadline has passed. */
  readonly state: LiveState;
  /** Epoch ms when re-authentication becomes required; 0 = never. */
  readonly absoluteDeadline: number;
  /** The policy copied at creation (SPEC rule 16). */
  readonly policy: SessionPolicy;
  /** Names of the session's attributes (their values are stored apart). */
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
  /** Salted hash of the client IP address. */
  readonly ipHash: string;
  /** Salted hash of the user agent. */
  readonly userAgentHash: string;
  /** Random salt of both hashes, kept across re-authentication; absent/'' = previous format, salted with the session id. */
  readonly salt?: string;
}

/** Activity: the part of a record that touches change. */
export interface Activity {
  /** Last access (epoch ms). */
  readonly lastAccessAt: number;
  /** Validated requests so far. */
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
