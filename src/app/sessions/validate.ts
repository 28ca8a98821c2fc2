import { decideHeartbeat, decideValidate, idleDeadline, needsExactHit, withActivity, type Verdict } from '../../domain/decisions.js';
import { StoreQuotaExceededError, StoreUnavailableError } from '../../domain/errors.js';
import type { CasResult, StoredSession } from '../../domain/ports.js';
import type { Binding, SessionRecord } from '../../domain/session.js';
import { presentedBinding, type ClientInfo } from '../bindings.js';
import { AGAIN, casRetry } from '../cas-retry.js';
import { hashSessionId } from '../ids.js';
import { requireName, requireSessionId } from '../validation.js';
import { count, type SessionContext } from './context.js';
import { endInBackground, endSession, mayEnd } from './lifecycle.js';
import { connectionOf, idOf, lookupHit, lookupMiss, view } from './lookup.js';
import type { RequestIdentity, ValidateResult } from './types.js';

/** A site check the transport runs on the found session before anything is counted or written (SPEC rule 21). */
export type SiteCheck = (site: string) => void;

/**
 * ValidateSession as the transport calls it: a cache hit is answered synchronously (no promise, no
 * I/O); a miss or an exact (compare-and-swapped) hit returns a promise. `checkSite`, when given, is
 * called with the found session's site before anything is counted or written (SPEC rule 21), so
 * the caller's site check costs no second lookup.
 */
export function validateNow(ctx: SessionContext, req: RequestIdentity | string, checkSite?: SiteCheck): ValidateResult | Promise<ValidateResult> {
  const identity = typeof req === 'string' ? { sessionId: req } : req;
  const id = idOf(ctx, identity);
  const hash = hashSessionId(id);
  const hit = lookupHit(ctx, hash);
  if (hit) return validateFound(ctx, hit, id, identity.client, checkSite);
  return lookupMiss(ctx, hash).then((s) => (s ? validateFound(ctx, s, id, identity.client, checkSite) : { verdict: count(ctx, 'NOT_FOUND') }));
}

/** Validates a session the lookup found: site check, then the exact (CAS) or the coalesced path. */
function validateFound(
  ctx: SessionContext,
  s: StoredSession,
  id: string,
  client: ClientInfo | undefined,
  checkSite: SiteCheck | undefined,
): ValidateResult | Promise<ValidateResult> {
  if (checkSite) checkSite(s.rec.site);
  if (needsExactHit(s.rec)) {
    const present = (bound: Binding) => presentedBinding(bound, id, client);
    return ctx.exact.run(s.hash, () => validateExact(ctx, s.hash, present));
  }
  return validateCoalesced(ctx, s, presentedBinding(s.rec.binding, id, client));
}

/** Validate with the hit kept in memory and written behind (SPEC rule 15): the common case. */
function validateCoalesced(ctx: SessionContext, s: StoredSession, presented: Binding): ValidateResult {
  const now = ctx.deps.clock.now();
  const rec = withActivity(s.rec, ctx.deps.touches.activity(s));
  const conn = connectionOf(ctx, s);
  const out = decideValidate(rec, now, conn, presented);
  if (out.endReason) endInBackground(ctx, s, out.endReason);
  if (out.verdict !== 'VALID' || !out.activity) return { verdict: count(ctx, out.verdict) };
  ctx.deps.touches.record(s, out.activity);
  // The decision already established the session is live: build the answer without judging again.
  // withActivity made a private copy when local activity was newer; only the stored record is shared.
  const next: SessionRecord = rec === s.rec ? { ...rec, ...out.activity } : (Object.assign(rec as { lastAccessAt: number; hits: number }, out.activity) as SessionRecord);
  return { verdict: count(ctx, 'VALID'), view: { hash: s.hash, rec: next, state: 'ACTIVE', idleDeadline: idleDeadline(next, conn).at } };
}

/** Jitter before a retried exact write: breaks the lockstep of nodes racing on one record. */
function jitter(attempt: number): Promise<unknown> {
  return new Promise((r) => setTimeout(r, Math.random() * Math.min(20, 2 * attempt)));
}

/**
 * Validate under a hit maximum or in the single-request regime: every such hit is written with a
 * compare-and-swap, so the count is exact cluster-wide (at most two writes per session without a maximum).
 */
async function validateExact(ctx: SessionContext, hash: string, present: (bound: Binding) => Binding): Promise<ValidateResult> {
  // Re-read under the lock: the previous holder may just have moved the record on.
  const first = ctx.deps.cache.get(hash) ?? (await ctx.deps.store.get(hash)).session;
  if (!first) return { verdict: count(ctx, 'NOT_FOUND') };
  let cur: StoredSession = first;
  return casRetry<ValidateResult>(
    async () => {
      // Another node wrote the second hit meanwhile: from here hits are coalesced again.
      if (!needsExactHit(cur.rec)) return validateCoalesced(ctx, cur, present(cur.rec.binding));
      const now = ctx.deps.clock.now();
      const out = decideValidate(cur.rec, now, connectionOf(ctx, cur), present(cur.rec.binding));
      if (out.endReason) {
        if (mayEnd(ctx, cur, out.endReason)) await endSession(ctx, cur, out.endReason);
        return { verdict: count(ctx, out.verdict) };
      }
      if (out.verdict !== 'VALID' || !out.activity) return { verdict: count(ctx, out.verdict) };
      const next = { ...cur.rec, ...out.activity };
      let r: CasResult;
      try {
        r = await ctx.deps.store.update(cur, next, ctx.deps.touches.ttlFor(next));
      } catch (err) {
        // Without a hit maximum the exact write only sharpens the single-request timeout: when etcd
        // refuses writes (no leader, over quota) the hit is coalesced as before rather than refused.
        if (cur.rec.policy.hitMax > 0 || !(err instanceof StoreUnavailableError || err instanceof StoreQuotaExceededError)) throw err;
        return validateCoalesced(ctx, cur, present(cur.rec.binding));
      }
      if (r.ok) {
        ctx.deps.cache.upsert(r.session);
        return { verdict: count(ctx, 'VALID'), view: view(ctx, r.session, now) ?? undefined };
      }
      if (!r.current) return { verdict: count(ctx, 'NOT_FOUND') };
      ctx.deps.cache.upsert(r.current);
      cur = r.current;
      return AGAIN;
    },
    { attempts: ctx.options.maxExact, pause: jitter },
  );
}

/**
 * Heartbeat as the transport calls it: synchronous on a cache hit, a promise on a miss; `checkSite`
 * as in validateNow. Keeps a session alive without counting a hit and marks the instance present.
 */
export function heartbeatNow(ctx: SessionContext, id: string, instanceId: string, client?: ClientInfo, checkSite?: SiteCheck): Verdict | Promise<Verdict> {
  requireSessionId(id);
  requireName('instance_id', instanceId);
  const hash = hashSessionId(id);
  const hit = lookupHit(ctx, hash);
  if (hit) return heartbeatFound(ctx, hit, id, instanceId, client, checkSite);
  return lookupMiss(ctx, hash).then((s) => (s ? heartbeatFound(ctx, s, id, instanceId, client, checkSite) : 'NOT_FOUND'));
}

/** Heartbeats a session the lookup found (site check first); never waits. */
function heartbeatFound(ctx: SessionContext, s: StoredSession, id: string, instanceId: string, client: ClientInfo | undefined, checkSite: SiteCheck | undefined): Verdict {
  if (checkSite) checkSite(s.rec.site);
  const rec = withActivity(s.rec, ctx.deps.touches.activity(s));
  const out = decideHeartbeat(rec, ctx.deps.clock.now(), connectionOf(ctx, s), presentedBinding(rec.binding, id, client));
  if (out.endReason) endInBackground(ctx, s, out.endReason);
  if (out.verdict === 'VALID' && out.activity) {
    ctx.deps.touches.record(s, out.activity);
    ctx.deps.presence.heartbeat(s.hash, instanceId);
  }
  return out.verdict;
}
