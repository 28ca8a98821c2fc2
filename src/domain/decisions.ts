import { IDLE_CONNECTION_BOUND, IDLE_NEVER, REAUTH_WINDOW_WITHOUT_IDLE_MS } from './policy.js';
import type { Activity, Binding, EndReason, SessionRecord } from './session.js';

/** The answer of ValidateSession and Heartbeat (SPEC: error model). */
export type Verdict = 'VALID' | 'NOT_FOUND' | 'EXPIRED' | 'REAUTH_REQUIRED' | 'HIT_LIMIT' | 'BINDING_MISMATCH';

/**
 * What the node knows about a connection-bound session's connections: whether one is open on any
 * replica now, and otherwise since when none has been (the later of the stored time and what this
 * node observed, so a judgement is never early).
 */
export interface Connection {
  readonly attached: boolean;
  /** Epoch ms since when no connection is known to be open; ignored while attached. */
  readonly lostSince: number;
}

/** Where a session stands at a moment: live, needing re-authentication, or over. */
export type Standing =
  | { readonly kind: 'ACTIVE'; readonly idleDeadline: number }
  | { readonly kind: 'REAUTH_REQUIRED'; readonly idleDeadline: number }
  | { readonly kind: 'ENDED'; readonly reason: EndReason };

/** Merges a stored record with activity seen locally but not yet written (the newer of each). */
export function withActivity(rec: SessionRecord, local: Activity | undefined): SessionRecord {
  if (!local) return rec;
  const lastAccessAt = Math.max(rec.lastAccessAt, local.lastAccessAt);
  const hits = Math.max(rec.hits, local.hits);
  if (lastAccessAt === rec.lastAccessAt && hits === rec.hits) return rec;
  return { ...rec, lastAccessAt, hits };
}

/**
 * Computes when a session ends if nothing touches it, and which end reason that would be.
 *
 * The deadline adds the touch granularity: another node may have served requests up to one
 * granularity after the last written access, so judging from the written value without the slack
 * could expire a session early. Expiry may thus come late by at most the granularity, never early
 * (SPEC rules 1 and 15).
 */
export function idleDeadline(rec: SessionRecord, conn?: Connection): { at: number; reason: EndReason } {
  const p = rec.policy;
  const slack = p.touchGranularityMs;
  if (rec.state === 'REAUTH_REQUIRED') {
    // Finite idle: the data goes when the idle timeout passes. Without one (never, connection-bound)
    // a fixed window runs from the absolute deadline instead, so an attached client is not cut off
    // the moment re-authentication becomes due.
    const at =
      p.idleMs > 0
        ? rec.lastAccessAt + p.idleMs
        : Math.max(rec.lastAccessAt, rec.absoluteDeadline) + REAUTH_WINDOW_WITHOUT_IDLE_MS;
    return { at: at + slack, reason: 'EXPIRED_ABSOLUTE' };
  }
  if (p.idleMs === IDLE_NEVER) return { at: Number.POSITIVE_INFINITY, reason: 'EXPIRED_IDLE' };
  if (p.idleMs === IDLE_CONNECTION_BOUND) {
    // Never idles out while a connection is open anywhere (SPEC rule 6); without one it ends after
    // the connection grace unless the client re-attaches.
    const c = conn ?? { attached: rec.connectionLostAt === 0, lostSince: rec.connectionLostAt };
    if (c.attached) return { at: Number.POSITIVE_INFINITY, reason: 'CONNECTION_LOST' };
    return { at: Math.max(c.lostSince, rec.connectionLostAt) + p.connectionGraceMs, reason: 'CONNECTION_LOST' };
  }
  if (rec.hits <= 1 && p.singleRequestMs > 0 && p.singleRequestMs < p.idleMs) {
    return { at: rec.lastAccessAt + p.singleRequestMs + slack, reason: 'EXPIRED_SINGLE_REQUEST' };
  }
  return { at: rec.lastAccessAt + p.idleMs + slack, reason: 'EXPIRED_IDLE' };
}

/**
 * True while a hit must be counted exactly cluster-wide: under a hit maximum, or while the session is
 * still in the single-request regime (fewer than 2 hits written) — behind a load balancer the first
 * two hits may land on two nodes, and each alone would think it saw the only one (issue 10 item 5).
 */
export function needsExactHit(rec: SessionRecord): boolean {
  const p = rec.policy;
  if (p.hitMax > 0) return true;
  return rec.hits < 2 && p.idleMs > 0 && p.singleRequestMs > 0 && p.singleRequestMs < p.idleMs;
}

/** Tells where a session stands at `now`. A deadline equal to `now` still counts as live. */
export function standing(rec: SessionRecord, now: number, conn?: Connection): Standing {
  if (rec.state === 'ACTIVE' && rec.absoluteDeadline > 0 && now > rec.absoluteDeadline) {
    // The absolute timeout passed: from here the session waits for re-authentication, and the idle
    // window is measured from the last access before the deadline.
    return standing({ ...rec, state: 'REAUTH_REQUIRED' }, now, conn);
  }
  const idle = idleDeadline(rec, conn);
  if (now > idle.at) return { kind: 'ENDED', reason: idle.reason };
  return { kind: rec.state, idleDeadline: idle.at };
}

/** The outcome of a validate or heartbeat: the verdict, and the new activity when it renews. */
export interface TouchOutcome {
  readonly verdict: Verdict;
  /** Set when the session must end now (e.g. the hit maximum was passed). */
  readonly endReason?: EndReason;
  /** Set when the request renewed the session. */
  readonly activity?: Activity;
}

/**
 * Decides a validated request (SPEC rules 1, 2, 3, 11): refuse ended, expired and re-auth-pending
 * sessions; refuse the request beyond the hit maximum; otherwise count a hit and renew.
 */
export function decideValidate(rec: SessionRecord, now: number, conn?: Connection, presented?: Binding): TouchOutcome {
  const s = standing(rec, now, conn);
  if (s.kind === 'ENDED') return { verdict: 'EXPIRED', endReason: s.reason };
  if (!bindingMatches(rec.binding, presented)) return { verdict: 'BINDING_MISMATCH' };
  if (s.kind === 'REAUTH_REQUIRED') return { verdict: 'REAUTH_REQUIRED' };
  if (rec.policy.hitMax > 0 && rec.hits >= rec.policy.hitMax) {
    return { verdict: 'HIT_LIMIT', endReason: 'HIT_LIMIT' };
  }
  return { verdict: 'VALID', activity: { lastAccessAt: Math.max(rec.lastAccessAt, now), hits: rec.hits + 1 } };
}

/**
 * Checks a request against the session's bindings (SPEC rule 13): each bound value must be presented
 * and equal. An unbound session accepts anything. A mismatch neither counts a hit nor renews.
 */
export function bindingMatches(bound: Binding, presented: Binding | undefined): boolean {
  if (bound.ipHash && bound.ipHash !== presented?.ipHash) return false;
  if (bound.userAgentHash && bound.userAgentHash !== presented?.userAgentHash) return false;
  return true;
}

/**
 * Decides a heartbeat (SPEC rule 4): like a validate, but counts no hit and ignores the hit maximum.
 * Bindings are checked as on a validate, so a stolen bound ticket cannot be kept alive elsewhere.
 */
export function decideHeartbeat(rec: SessionRecord, now: number, conn?: Connection, presented?: Binding): TouchOutcome {
  const s = standing(rec, now, conn);
  if (s.kind === 'ENDED') return { verdict: 'EXPIRED', endReason: s.reason };
  if (!bindingMatches(rec.binding, presented)) return { verdict: 'BINDING_MISMATCH' };
  if (s.kind === 'REAUTH_REQUIRED') return { verdict: 'REAUTH_REQUIRED' };
  return { verdict: 'VALID', activity: { lastAccessAt: Math.max(rec.lastAccessAt, now), hits: rec.hits } };
}

/**
 * Decides whether new activity must be written to the store now (SPEC rule 15): always under a hit
 * maximum (exact counting), when the session leaves the single-request regime, or once the written
 * last access is a full touch granularity old. Otherwise it stays in memory.
 */
export function mustPersist(stored: Activity, next: Activity, rec: SessionRecord): boolean {
  if (rec.policy.hitMax > 0 && next.hits !== stored.hits) return true;
  if (stored.hits <= 1 && next.hits > 1) return true;
  return next.lastAccessAt - stored.lastAccessAt >= rec.policy.touchGranularityMs;
}

/**
 * How long the store must keep a session's keys if nothing touches it again: the lease backstop.
 * Returns 0 for sessions that never end by themselves (their keys carry no lease).
 */
export function backstopTtlMs(rec: SessionRecord, now: number): number {
  // Connection-bound sessions are judged as if attached: presence keys, not leases, end them.
  let until = idleDeadline(rec, { attached: true, lostSince: 0 }).at;
  if (rec.state === 'ACTIVE' && rec.absoluteDeadline > 0 && until > rec.absoluteDeadline) {
    // The absolute deadline comes first; the session then waits a re-auth window for its user.
    until = idleDeadline({ ...rec, state: 'REAUTH_REQUIRED' }).at;
  }
  if (!Number.isFinite(until)) return 0;
  return Math.max(0, until - now);
}
