import { standing, type Connection } from './decisions.js';
import type { EndReason, SessionRecord } from './session.js';

/** End reasons that follow from a node's clock (timeouts and lost connections), not from a request. */
export const TIME_END_REASONS: ReadonlySet<EndReason> = new Set<EndReason>(['EXPIRED_IDLE', 'EXPIRED_SINGLE_REQUEST', 'EXPIRED_ABSOLUTE', 'CONNECTION_LOST']);

/**
 * Tells whether a node may end a session for everyone at `now` on its own clock (issue 10, clock
 * skew): an end for a reason that does not depend on time always may; a timeout only once the session
 * is expired by more than `marginMs` (cluster.max-clock-skew), so a node whose clock runs ahead by
 * up to the margin never ends a session another node still counts live. Refusing it locally needs no
 * margin (decideValidate).
 */
export function mayEndForEveryone(rec: SessionRecord, reason: EndReason, now: number, marginMs: number, conn?: Connection): boolean {
  if (!TIME_END_REASONS.has(reason)) return true;
  return standing(rec, now - marginMs, conn).kind === 'ENDED';
}
