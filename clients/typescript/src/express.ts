// Express helpers: a middleware that lets in only requests with a VALID session, a heartbeat route
// for tab keep-alive, a logout route, and the session cookie. Typed structurally, so neither express
// nor @types/express is a dependency; works with Express 4 and 5.
import { clearedCookie, sessionCookie, type CookieOptions } from './cookies.js';
import type { SessionManagerError } from './errors.js';
import { checkRequest, endQuietly, isUnavailable, sessionIdOf, unauthorizedBody, unavailableBody, type RejectReason, type RequestSession, type WebSessionOptions } from './web.js';

export type { RequestSession, RejectReason, WebSessionOptions } from './web.js';
export type { CookieOptions } from './cookies.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by sessionMiddleware: the outcome of ValidateSession for this request. */
      sessionManager?: RequestSession;
    }
  }
}

/** The parts of an Express request the helpers read. */
export interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  ip?: string | undefined;
  socket?: { remoteAddress?: string | undefined };
  query?: unknown;
  sessionManager?: RequestSession;
}

/** The parts of an Express response the helpers use. */
export interface ResponseLike {
  status(code: number): ResponseLike;
  json(body: unknown): unknown;
  append(field: string, value: string): unknown;
  end(): unknown;
}

/** Express's `next`. */
export type NextLike = (err?: unknown) => void;

/** Options of sessionMiddleware. */
export interface SessionMiddlewareOptions extends WebSessionOptions {
  /**
   * Called instead of answering 401 when the request has no valid session (`req.sessionManager`
   * holds the verdict). It may answer, redirect to the login page, or call `next()` to let the
   * request through as anonymous (the route must then check `req.sessionManager.valid`).
   */
  readonly onInvalid?: (req: RequestLike, res: ResponseLike, next: NextLike, verdict: RejectReason) => void;
}

function clientIp(req: RequestLike): string | undefined {
  return req.ip ?? req.socket?.remoteAddress;
}

function userAgent(req: RequestLike): string | undefined {
  const ua = req.headers['user-agent'];
  return Array.isArray(ua) ? ua[0] : ua;
}

/**
 * Express middleware: validates the request's session (cookie or header) with the end user's IP and
 * user agent, puts the outcome on `req.sessionManager`, and answers 401 `{error, verdict}` (or calls
 * `onInvalid`) unless the verdict is VALID, or 503 when the service is unavailable — never lets a
 * request in without a VALID verdict.
 */
export function sessionMiddleware(options: SessionMiddlewareOptions): (req: RequestLike, res: ResponseLike, next: NextLike) => void {
  if (!options?.client) throw new TypeError('sessionMiddleware: options.client is required');
  return (req, res, next) => {
    checkRequest(options, sessionIdOf(req.headers, options), clientIp(req), userAgent(req)).then(
      (outcome) => {
        req.sessionManager = outcome;
        if (outcome.valid) return next();
        if (options.onInvalid) return options.onInvalid(req, res, next, outcome.verdict);
        res.status(401).json(unauthorizedBody(outcome.verdict));
      },
      (err: unknown) => {
        if (isUnavailable(err)) res.status(503).json(unavailableBody(err as SessionManagerError));
        else next(err);
      },
    );
  };
}

/** Adds the Set-Cookie header that stores a new session id (call it in the login route). */
export function setSessionCookie(res: ResponseLike, sessionId: string, cookie?: CookieOptions): void {
  res.append('Set-Cookie', sessionCookie(sessionId, cookie));
}

/** Adds the Set-Cookie header that deletes the session cookie. */
export function clearSessionCookie(res: ResponseLike, cookie?: CookieOptions): void {
  res.append('Set-Cookie', clearedCookie(cookie));
}

/**
 * A route handler for tab keep-alive (the `alive.txt` pattern): Heartbeat for the instance named by
 * `?instance=` or the `x-instance-id` header (default `web`). Answers 204 when the session is still
 * valid, 401 `{error, verdict}` when not, 503 when the service is unavailable. Counts no hit.
 */
export function heartbeatHandler(options: WebSessionOptions): (req: RequestLike, res: ResponseLike, next: NextLike) => void {
  return (req, res, next) => {
    const sessionId = sessionIdOf(req.headers, options);
    if (!sessionId) {
      res.status(401).json(unauthorizedBody('MISSING'));
      return;
    }
    const q = (req.query ?? {}) as Record<string, unknown>;
    const h = req.headers['x-instance-id'];
    const instanceId = (typeof q['instance'] === 'string' && q['instance']) || (typeof h === 'string' && h) || 'web';
    options.client.heartbeat({ sessionId, instanceId }).then(
      (r) => (r.valid ? res.status(204).end() : res.status(401).json(unauthorizedBody(r.verdict))),
      (err: unknown) => {
        if (isUnavailable(err)) res.status(503).json(unavailableBody(err as SessionManagerError));
        else if ((err as SessionManagerError).reason === 'MALFORMED_SESSION_ID') res.status(401).json(unauthorizedBody('MALFORMED'));
        else next(err);
      },
    );
  };
}

/**
 * Logs the request's session out: EndSession (a session already gone counts as logged out), clears
 * the cookie, answers 204 (or calls `then(req, res)` to answer, e.g. a redirect). 503 when unavailable:
 * the cookie is kept so the user can retry, and the session is not reported as ended.
 */
export function logout(options: WebSessionOptions, then?: (req: RequestLike, res: ResponseLike) => void): (req: RequestLike, res: ResponseLike, next: NextLike) => void {
  return (req, res, next) => {
    endQuietly(options, sessionIdOf(req.headers, options), clientIp(req), userAgent(req)).then(
      () => {
        clearSessionCookie(res, options.cookie);
        if (then) then(req, res);
        else res.status(204).end();
      },
      (err: unknown) => {
        if (isUnavailable(err)) res.status(503).json(unavailableBody(err as SessionManagerError));
        else next(err);
      },
    );
  };
}
