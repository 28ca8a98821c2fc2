import { Verdict as VerdictEnum } from './gen/sessionmanager/v1/session_service.js';
import type { Session } from './gen/sessionmanager/v1/session.js';

/** Names of the non-VALID verdicts, without the `VERDICT_` prefix. */
export type InvalidVerdictName = 'NOT_FOUND' | 'EXPIRED' | 'REAUTH_REQUIRED' | 'HIT_LIMIT' | 'BINDING_MISMATCH' | 'UNSPECIFIED';

/**
 * The answer of ValidateSession as a discriminated union: switch on `valid` (or `verdict`) and the
 * session is there exactly when the session may serve the request.
 */
export type ValidateResult =
  | { readonly valid: true; readonly verdict: 'VALID'; readonly session: Session }
  | { readonly valid: false; readonly verdict: InvalidVerdictName };

/** The answer of Heartbeat: VALID or why not (a heartbeat returns no session). */
export type HeartbeatResult = { readonly valid: true; readonly verdict: 'VALID' } | { readonly valid: false; readonly verdict: InvalidVerdictName };

/** Short name of a verdict number (`VERDICT_EXPIRED` → `EXPIRED`); unknown numbers become UNSPECIFIED. */
export function verdictName(v: VerdictEnum): 'VALID' | InvalidVerdictName {
  const n = VerdictEnum[v];
  if (typeof n !== 'string' || n === 'UNRECOGNIZED') return 'UNSPECIFIED';
  return n.replace(/^VERDICT_/, '') as 'VALID' | InvalidVerdictName;
}

/** Builds the union from a response; a VALID verdict without a session is treated as not valid. */
export function toValidateResult(verdict: VerdictEnum, session: Session | undefined): ValidateResult {
  const name = verdictName(verdict);
  if (name === 'VALID') return session ? { valid: true, verdict: 'VALID', session } : { valid: false, verdict: 'UNSPECIFIED' };
  return { valid: false, verdict: name };
}

/** Builds the heartbeat union from a verdict number. */
export function toHeartbeatResult(verdict: VerdictEnum): HeartbeatResult {
  const name = verdictName(verdict);
  return name === 'VALID' ? { valid: true, verdict: 'VALID' } : { valid: false, verdict: name };
}
