import type { ClientType } from './client-type.js';

/** Idle value meaning "no idle timeout" (`never`). */
export const IDLE_NEVER = 0;
/** Idle value meaning "connection-bound": no idle timeout while an Attach stream is open (`-1`). */
export const IDLE_CONNECTION_BOUND = -1;
/** Touch granularity ceiling (SPEC rule 15): at most one store write per session per minute. */
export const MAX_TOUCH_GRANULARITY_MS = 60_000;
/**
 * How long a REAUTH_REQUIRED session without a finite idle timeout (never / connection-bound) keeps
 * its data after its last access before it ends; finite-idle types use their idle timeout.
 */
export const REAUTH_WINDOW_WITHOUT_IDLE_MS = 30 * 60_000;

/** What to do when a per-user limit is reached (Keycloak's session limiter). */
export type LimitAction = 'deny' | 'terminate-oldest';

/**
 * ClusterPolicy is the validated, typed form of cluster-config.properties. All durations are
 * milliseconds. It is immutable; a reload produces a new one.
 */
export interface ClusterPolicy {
  /** Idle timeout per client type: ms > 0, IDLE_NEVER or IDLE_CONNECTION_BOUND. */
  readonly idleTimeoutMs: Readonly<Record<ClientType, number>>;
  /** Timeout of sessions that served at most one request; 0 disables the rule. */
  readonly singleRequestMs: number;
  /** Absolute timeout; 0 = none. */
  readonly absoluteMs: number;
  /** session.presence.grace: a session has presence while an instance heart-beat within this (SPEC rule 5). */
  readonly presenceGraceMs: number;
  /** session.connection.grace: how long a connection-bound session may go without an Attach stream (SPEC rule 6). */
  readonly connectionGraceMs: number;
  /** session.single-per-user: client types limited to one session per user per site (SPEC rule 7). */
  readonly singlePerUser: ReadonlySet<ClientType>;
  /** Per-user session limit per client type; 0 = unlimited. */
  readonly limitPerUser: Readonly<Record<ClientType, number>>;
  /** session.limit.action: what a login over limitPerUser does (SPEC rule 8). */
  readonly limitAction: LimitAction;
  /** Maximum validated requests per session; 0 = unlimited. */
  readonly hitMax: number;
  /** Maximum live sessions in the cluster; 0 = unlimited. */
  readonly maxSessions: number;
  /** session.scavenge.interval: how often the scavenger leader sweeps expired sessions. */
  readonly scavengeIntervalMs: number;
  /** Configured touch granularity; null = automatic (min(60 s, idle / 10)). */
  readonly touchGranularityMs: number | null;
  /** Allowed sites; null = any site. */
  readonly sites: ReadonlySet<string> | null;
  /** session.attributes.max-bytes: the largest attribute value. */
  readonly attributeMaxBytes: number;
  /** session.attributes.max-count: the most attributes per session. */
  readonly attributeMaxCount: number;
  /** cache.max-staleness: how long the mirror may go unconfirmed before lookups fail closed. */
  readonly cacheMaxStalenessMs: number;
  /** events.retention: how long lifecycle events stay readable. */
  readonly eventsRetentionMs: number;
  /**
   * cluster.max-clock-skew: the most two nodes' wall clocks may disagree. A node ends a session for
   * everyone only once it is expired by more than this on its own clock, and leaves readiness when its
   * measured offset from the other nodes exceeds it.
   */
  readonly maxClockSkewMs: number;
  /** session.persistent.types: client types that may ask for a persistent-login token (SPEC rule 19). */
  readonly persistentTypes: ReadonlySet<ClientType>;
  /** session.persistent.lifetime: a token family's absolute lifetime from its first login. */
  readonly persistentLifetimeMs: number;
  /** session.persistent.idle: a token family ends when no resume used it for this long. */
  readonly persistentIdleMs: number;
  /** session.persistent.reuse-grace: a spent token presented again within this from the same device gets the same successor. */
  readonly persistentReuseGraceMs: number;
}

/**
 * SessionPolicy is the part of the cluster policy a session copies at creation; later config
 * changes do not alter it (SPEC rule 16).
 */
export interface SessionPolicy {
  /** ms > 0, IDLE_NEVER or IDLE_CONNECTION_BOUND. */
  readonly idleMs: number;
  /** 0 = rule disabled. */
  readonly singleRequestMs: number;
  /** 0 = none. */
  readonly absoluteMs: number;
  /** 0 = unlimited. */
  readonly hitMax: number;
  /** How stale a stored last-access may be before a touch is written (resolved from the cluster setting). */
  readonly touchGranularityMs: number;
  /** Connection-bound sessions: how long they survive without any open connection. */
  readonly connectionGraceMs: number;
}

/** Computes the touch granularity for an idle timeout: the configured value or min(60 s, idle/10). */
export function touchGranularityFor(idleMs: number, configuredMs: number | null): number {
  if (configuredMs !== null) return configuredMs;
  if (idleMs <= 0) return MAX_TOUCH_GRANULARITY_MS;
  return Math.max(1, Math.min(MAX_TOUCH_GRANULARITY_MS, Math.floor(idleMs / 10)));
}

/** Derives the policy a new session of the given type is created under. */
export function sessionPolicyFor(cluster: ClusterPolicy, type: ClientType): SessionPolicy {
  const idleMs = cluster.idleTimeoutMs[type];
  return {
    idleMs,
    singleRequestMs: cluster.singleRequestMs,
    absoluteMs: cluster.absoluteMs,
    hitMax: cluster.hitMax,
    touchGranularityMs: touchGranularityFor(idleMs, cluster.touchGranularityMs),
    connectionGraceMs: cluster.connectionGraceMs,
  };
}
