import { standing, withActivity, type Connection } from '../../domain/decisions.js';
import { IdModeDisabledError, LookupBacklogFullError, SessionNotFoundError, UnreadableRecordError } from '../../domain/errors.js';
import { IDLE_CONNECTION_BOUND } from '../../domain/policy.js';
import type { StoredSession } from '../../domain/ports.js';
import { requireBinding, type ClientInfo } from '../bindings.js';
import { deriveClientAddressId, hashSessionId } from '../ids.js';
import { requireName, requireSessionId } from '../validation.js';
import type { SessionContext } from './context.js';
import type { RequestIdentity, SessionView } from './types.js';

/**
 * Finds a session in the mirror. On a miss it does not read the record from etcd: it waits until
 * the mirror has applied everything etcd had committed when the miss happened (one shared
 * linearizable revision read for all concurrent misses, ARCHITECTURE decision 10) and looks again,
 * so a login acknowledged on another node is found while a flood of unknown ids costs etcd almost
 * nothing. Beyond `maxPendingMisses` waiting misses the call is refused (LOOKUP_BACKLOG_FULL).
 */
export async function lookup(ctx: SessionContext, hash: string): Promise<StoredSession | null> {
  return lookupHit(ctx, hash) ?? lookupMiss(ctx, hash);
}

/** The mirror's session for `hash` if it holds one now (counted as a hit), without waiting: the hot path. */
export function lookupHit(ctx: SessionContext, hash: string): StoredSession | undefined {
  ctx.deps.feed.assertFresh();
  const hit = ctx.deps.cache.get(hash);
  if (hit) ctx.stats.cacheHits++;
  return hit;
}

/** The slow half of lookup: the mirror did not hold `hash`; wait until it has caught up and look again. */
export async function lookupMiss(ctx: SessionContext, hash: string): Promise<StoredSession | null> {
  ctx.stats.cacheMisses++;
  if (ctx.pendingMisses >= ctx.options.maxPendingMisses) throw new LookupBacklogFullError(ctx.options.maxPendingMisses);
  ctx.pendingMisses++;
  try {
    await ctx.deps.feed.sync();
  } finally {
    ctx.pendingMisses--;
  }
  const s = ctx.deps.cache.get(hash);
  if (!s && ctx.deps.cache.isUnreadable(hash)) throw new UnreadableRecordError('session record in etcd cannot be decoded');
  return s ?? null;
}

/** Resolves the secret id of a request: the ticket, or the id derived from a CLIENT_ADDRESS. */
export function idOf(ctx: SessionContext, req: RequestIdentity): string {
  if (req.idMode !== 'CLIENT_ADDRESS') {
    requireSessionId(req.sessionId);
    return req.sessionId;
  }
  const key = ctx.options.idKey;
  if (!key) throw new IdModeDisabledError();
  requireName('site', req.site ?? '');
  requireName('client.ip', req.client?.ip ?? '');
  requireName('client.user_agent', req.client?.userAgent ?? '');
  return deriveClientAddressId(key, req.site!, req.client!.ip, req.client!.userAgent);
}

/**
 * The site of the live session a request names, or undefined if none: the transport checks it
 * against the caller's allowed sites before the call reads or writes anything (SPEC rule 21).
 */
export async function siteOf(ctx: SessionContext, req: RequestIdentity | string): Promise<string | undefined> {
  const identity = typeof req === 'string' ? { sessionId: req } : req;
  return (await lookup(ctx, hashSessionId(idOf(ctx, identity))))?.rec.site;
}

/** The connection state of a connection-bound session as this node knows it (undefined for other types). */
export function connectionOf(ctx: SessionContext, s: StoredSession): Connection | undefined {
  if (s.rec.policy.idleMs !== IDLE_CONNECTION_BOUND) return undefined;
  const { presence, presenceMirror } = ctx.deps;
  if (presence.hasConnection(s.hash) || presenceMirror.hasConnection(s.hash)) return { attached: true, lostSince: 0 };
  return { attached: false, lostSince: Math.max(s.rec.connectionLostAt, presenceMirror.lostSince(s.hash)) };
}

/** The session as callers see it now, or null when it has ended. */
export function view(ctx: SessionContext, s: StoredSession, now: number): SessionView | null {
  const rec = withActivity(s.rec, ctx.deps.touches.activity(s));
  const st = standing(rec, now, connectionOf(ctx, s));
  if (st.kind === 'ENDED') return null;
  return { hash: s.hash, rec, state: st.kind, idleDeadline: st.idleDeadline };
}

/** A live session for a call that takes its id, refused (BINDING_MISMATCH) when `client` does not match its bindings. */
export async function liveSession(ctx: SessionContext, id: string, client: ClientInfo | undefined): Promise<{ s: StoredSession; view: SessionView }> {
  requireSessionId(id);
  const s = await lookup(ctx, hashSessionId(id));
  const v = s ? view(ctx, s, ctx.deps.clock.now()) : null;
  if (!s || !v) throw new SessionNotFoundError();
  requireBinding(s.rec, id, client);
  return { s, view: v };
}
