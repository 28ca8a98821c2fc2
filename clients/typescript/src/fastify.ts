// Fastify helpers: a plugin whose onRequest hook lets in only requests with a VALID session (for
// every route registered in the plugin's scope), plus heartbeat and logout handlers and the cookie.
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { clearedCookie, sessionCookie, type CookieOptions } from './cookies.js';
import type { SessionManagerError } from './errors.js';
import { checkRequest, endQuietly, isUnavailable, sessionIdOf, unauthorizedBody, unavailableBody, type RejectReason, type RequestSession, type WebSessionOptions } from './web.js';

export type { RequestSession, RejectReason, WebSessionOptions } from './web.js';
export type { CookieOptions } from './cookies.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by sessionManagerPlugin: the outcome of ValidateSession for this request. */
    sessionManager?: RequestSession;
  }
}

/** Options of sessionManagerPlugin. */
export interface SessionPluginOptions extends WebSessionOptions {
  /**
   * Called instead of answering 401 when the request has no valid session (`request.sessionManager`
   * holds the verdict). Send a reply to stop the request; return without sending to let it through.
   */
  readonly onInvalid?: (request: FastifyRequest, reply: FastifyReply, verdict: RejectReason) => Promise<void> | void;
}

/**
 * Fastify plugin: an onRequest hook that validates the session (cookie or header) with the request's
 * IP and user agent, sets `request.sessionManager`, and answers 401 `{error, verdict}` (or calls
 * `onInvalid`) unless VALID, 503 when the service is unavailable. It guards the context that registers it
 * (as with fastify-plugin): register it inside a scope holding the protected routes
 * (`app.register(async (s) => { await s.register(sessionManagerPlugin, opts); s.get(...) })`) so that
 * public routes such as login stay outside, or on the root instance to guard everything.
 */
export const sessionManagerPlugin: FastifyPluginCallback<SessionPluginOptions> = (fastify, options, done) => {
  if (!options?.client) return done(new TypeError('sessionManagerPlugin: options.client is required'));
  fastify.decorateRequest('sessionManager', undefined);
  fastify.addHook('onRequest', async (request, reply) => {
    let outcome: RequestSession;
    try {
      outcome = await checkRequest(options, sessionIdOf(request.headers, options), request.ip, request.headers['user-agent']);
    } catch (err) {
      if (isUnavailable(err)) return reply.code(503).send(unavailableBody(err));
      throw err;
    }
    request.sessionManager = outcome;
    if (outcome.valid) return;
    if (options.onInvalid) return options.onInvalid(request, reply, outcome.verdict);
    return reply.code(401).send(unauthorizedBody(outcome.verdict));
  });
  done();
};
// Like fastify-plugin: the hook applies to the context that registers the plugin (not a child of it),
// so `scope.register(sessionManagerPlugin, opts)` guards the routes of `scope`.
Object.assign(sessionManagerPlugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'session-manager' });

/** Adds the Set-Cookie header that stores a new session id (call it in the login route). */
export function setSessionCookie(reply: FastifyReply, sessionId: string, cookie?: CookieOptions): void {
  reply.header('set-cookie', sessionCookie(sessionId, cookie));
}

/** Adds the Set-Cookie header that deletes the session cookie. */
export function clearSessionCookie(reply: FastifyReply, cookie?: CookieOptions): void {
  reply.header('set-cookie', clearedCookie(cookie));
}

/** A route handler for tab keep-alive: 204 valid, 401 `{error, verdict}` not valid, 503 unavailable (no hit counted). */
export function heartbeatHandler(options: WebSessionOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (request, reply) => {
    const sessionId = sessionIdOf(request.headers, options);
    if (!sessionId) return reply.code(401).send(unauthorizedBody('MISSING'));
    const q = (request.query ?? {}) as Record<string, unknown>;
    const h = request.headers['x-instance-id'];
    const instanceId = (typeof q['instance'] === 'string' && q['instance']) || (typeof h === 'string' && h) || 'web';
    try {
      const r = await options.client.heartbeat({ sessionId, instanceId });
      return r.valid ? reply.code(204).send() : reply.code(401).send(unauthorizedBody(r.verdict));
    } catch (err) {
      if (isUnavailable(err)) return reply.code(503).send(unavailableBody(err));
      if ((err as SessionManagerError).reason === 'MALFORMED_SESSION_ID') return reply.code(401).send(unauthorizedBody('MALFORMED'));
      throw err;
    }
  };
}

/** A logout route handler: EndSession (already gone counts as logged out), clear the cookie, 204; 503 when unavailable. */
export function logoutHandler(options: WebSessionOptions): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (request, reply) => {
    try {
      await endQuietly(options, sessionIdOf(request.headers, options), request.ip, request.headers['user-agent']);
    } catch (err) {
      if (isUnavailable(err)) return reply.code(503).send(unavailableBody(err));
      throw err;
    }
    clearSessionCookie(reply, options.cookie);
    return reply.code(204).send();
  };
}
