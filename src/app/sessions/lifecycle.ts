import { standing, withActivity } from '../../domain/decisions.js';
import { ConcurrentUpdateError, SessionNotFoundError } from '../../domain/errors.js';
import type { EndItem, StoredSession } from '../../domain/ports.js';
import type { EndReason } from '../../domain/session.js';
import { mayEndForEveryone } from '../../domain/skew.js';
import { requireBinding, type ClientInfo } from '../bindings.js';
import { hashSessionId } from '../ids.js';
import { endLineage, LOGOUT_FOLLOW_WINDOW_MS } from '../lineage.js';
import { requireSessionId } from '../validation.js';
import type { SessionContext } from './context.js';
import { connectionOf, lookup } from './lookup.js';
import { revokeFamilyById } from './persistent-logins.js';

/** Logs out (EndSession): the session and its data are gone at once, cluster-wide. */
export async function end(ctx: SessionContext, id: string, forgetLogin = false, client?: ClientInfo): Promise<void> {
  requireSessionId(id);
  const hash = hashSessionId(id);
  const s = await lookup(ctx, hash);
  // A bound ticket held by someone else cannot log its owner out either.
  if (s) requireBinding(s.rec, id, client);
  if (forgetLogin && s?.rec.loginFamily) {
    // "Forget this device": the family's tokens die and its sessions (this one included) end.
    await revokeFamilyById(ctx, s.rec.loginFamily, 'LOGGED_OUT');
    if (!(await endSession(ctx, s, 'LOGGED_OUT')) && (await ctx.deps.store.get(hash)).session) throw new ConcurrentUpdateError();
    return;
  }
  if (s && (await endSession(ctx, s, 'LOGGED_OUT'))) return;
  // Gone or changed meanwhile: a racing Reauthenticate may have moved it to a new id (revocation.ts).
  if (!(await endLineage(ctx.lineage, hash, 'LOGGED_OUT', LOGOUT_FOLLOW_WINDOW_MS))) throw new SessionNotFoundError();
}

/** Ends a stored session for a reason (logout, revoke, expiry found on access); one store end per session at a time. */
export function endSession(ctx: SessionContext, s: StoredSession, reason: EndReason): Promise<boolean> {
  return ctx.endings.run(s.hash, async () => {
    const ended = await ctx.deps.store.end(s, reason);
    afterEnd(ctx, s, reason, ended);
    return ended;
  });
}

/** Local bookkeeping after a session ended (by this node or, for `counted`, reported by it). */
export function afterEnd(ctx: SessionContext, s: StoredSession, reason: EndReason, counted: boolean): void {
  ctx.deps.cache.forget(s.hash, s.incarnation);
  ctx.deps.touches.forget(s.hash);
  ctx.deps.presence.forget(s.hash);
  if (counted) {
    ctx.stats.ended[reason] = (ctx.stats.ended[reason] ?? 0) + 1;
    ctx.deps.events?.emit('session-ended', s.rec.site, s.rec.clientType, reason);
  }
}

/** Frees an expired session's keys early when this node may; correctness never depends on it (SPEC rule 1). */
export function endInBackground(ctx: SessionContext, s: StoredSession, reason: EndReason): void {
  if (!mayEnd(ctx, s, reason)) return;
  endSession(ctx, s, reason).catch(() => {});
}

/** Whether this node may end `s` for everyone now: a timeout waits cluster.max-clock-skew past its deadline. */
export function mayEnd(ctx: SessionContext, s: StoredSession, reason: EndReason): boolean {
  const rec = withActivity(s.rec, ctx.deps.touches.activity(s));
  return mayEndForEveryone(rec, reason, ctx.deps.clock.now(), ctx.deps.config.current().policy.maxClockSkewMs, connectionOf(ctx, s));
}

/** Ends sessions by reference (admin revoke), following re-authentications, with their token families; returns how many ended. */
export async function revoke(ctx: SessionContext, refs: readonly string[]): Promise<number> {
  let n = 0;
  for (const hash of refs) {
    const family = ctx.deps.families ? (await ctx.deps.store.get(hash)).session?.rec.loginFamily : undefined;
    // Follows re-authentications to the session's current id, so a racing one cannot evade it.
    if (await endLineage(ctx.lineage, hash, 'REVOKED')) n++;
    // The device must not resume the revoked login: its token family goes too.
    if (family) n += await revokeFamilyById(ctx, family, 'REVOKED');
  }
  return n;
}

/** Ends every session of a user at a site (RevokeUserSessions); no racing login or re-authentication escapes. */
export async function revokeUser(ctx: SessionContext, site: string, user: string): Promise<number> {
  // Token families first: a resume racing this fails its compare on the family or the revocation marker.
  let n = 0;
  if (ctx.deps.families) for (const fid of await ctx.deps.families.ofUser(site, user)) n += await revokeFamilyById(ctx, fid, 'REVOKED');
  const ended = await ctx.deps.store.revokeUser(site, user);
  for (const e of ended) afterEnd(ctx, e.s, e.reason, true);
  return n + ended.length;
}

/** Items for the scavenger: every mirrored session that has ended by now, with its reason, and how many were examined. */
export function endedSessions(ctx: SessionContext, now: number): { items: EndItem[]; scanned: number } {
  const out: EndItem[] = [];
  let scanned = 0;
  for (const s of ctx.deps.cache.values()) {
    scanned++;
    const rec = withActivity(s.rec, ctx.deps.touches.activity(s));
    const st = standing(rec, now, connectionOf(ctx, s));
    if (st.kind === 'ENDED') out.push({ s, reason: st.reason });
  }
  return { items: out, scanned };
}
