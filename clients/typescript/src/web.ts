// Framework-neutral core of the Express and Fastify helpers: where the session id comes from, how a
// request is checked, and what each outcome answers. Fail closed: only a VALID verdict lets a request in.
import { readCookie, type CookieOptions } from './cookies.js';
import { InvalidArgumentError, NotFoundError, UnavailableError, type SessionManagerError } from './errors.js';
import type { Session } from './gen/sessionmanager/v1/session.js';
import type { SessionClient } from './session-client.js';
import type { InvalidVerdictName } from './verdict.js';

/** Options shared by the Express and Fastify helpers. */
export interface WebSessionOptions {
  /** The client to call (one per process, shared). */
  readonly client: SessionClient;
  /** The session cookie (see CookieOptions for the defaults). */
  readonly cookie?: CookieOptions;
  /**
   * Also accept the session id in this request header (e.g. `x-session-id`, for API clients that do
   * not keep cookies); the header wins when both are present. Default: cookie only.
   */
  readonly header?: string;
}

/** Why a request has no valid session: a server verdict, no id at all, or an id that is not one. */
export type RejectReason = InvalidVerdictName | 'MISSING' | 'MALFORMED';

/** What the helpers put on the request as `sessionManager`. */
export type RequestSession =
  | { readonly valid: true; readonly verdict: 'VALID'; readonly sessionId: string; readonly session: Session }
  | { readonly valid: false; readonly verdict: RejectReason; readonly sessionId?: string };

/** Reads the session id of a request from the configured header, else the cookie. */
export function sessionIdOf(headers: Readonly<Record<string, string | string[] | undefined>>, o: WebSessionOptions): string | undefined {
  if (o.header) {
    const h = headers[o.header.toLowerCase()];
    const v = Array.isArray(h) ? h[0] : h;
    if (v) return v.trim();
  }
  return readCookie(headers['cookie'], o.cookie?.name ?? 'sid') || undefined;
}

/**
 * Validates a request's session with the end user's IP and user agent. Resolves with the outcome;
 * rejects with UnavailableError when no node could answer (the caller answers 503) and with any
 * other unexpected error as it is (a 500). Never resolves VALID without a server VALID.
 */
export async function checkRequest(o: WebSessionOptions, sessionId: string | undefined, ip: string | undefined, userAgent: string | undefined): Promise<RequestSession> {
  if (!sessionId) return { valid: false, verdict: 'MISSING' };
  try {
    const r = await o.client.validateSession({ sessionId, client: { ip: ip ?? '', userAgent: userAgent ?? '' } });
    return r.valid ? { valid: true, verdict: 'VALID', sessionId, session: r.session } : { valid: false, verdict: r.verdict, sessionId };
  } catch (err) {
    if (err instanceof InvalidArgumentError && err.reason === 'MALFORMED_SESSION_ID') return { valid: false, verdict: 'MALFORMED', sessionId };
    throw err;
  }
}

/** True for errors that mean "no node could answer": answer 503, never let the request in. */
export function isUnavailable(err: unknown): err is SessionManagerError {
  return err instanceof UnavailableError;
}

/** Ends a session for logout; a session already gone (or an id that is not one) counts as logged out. */
export async function endQuietly(o: WebSessionOptions, sessionId: string | undefined, ip?: string, userAgent?: string): Promise<void> {
  if (!sessionId) return;
  try {
    // The request's connection goes along, so a bound session's logout passes its binding check.
    await o.client.endSession(sessionId, { client: { ip: ip ?? '', userAgent: userAgent ?? '' } });
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof InvalidArgumentError && err.reason === 'MALFORMED_SESSION_ID')) return;
    throw err;
  }
}

/** The JSON body of a 401 answer. */
export function unauthorizedBody(verdict: RejectReason): { error: 'unauthenticated'; verdict: RejectReason } {
  return { error: 'unauthenticated', verdict };
}

/** The JSON body of a 503 answer. */
export function unavailableBody(err: SessionManagerError): { error: 'session_service_unavailable'; reason: string } {
  return { error: 'session_service_unavailable', reason: err.reason };
}
