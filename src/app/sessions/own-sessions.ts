import { SessionHandleNotFoundError } from '../../domain/errors.js';
import type { ClientInfo } from '../bindings.js';
import { handleOf } from '../ids.js';
import { endLineage } from '../lineage.js';
import { requireName } from '../validation.js';
import type { SessionContext } from './context.js';
import { afterEnd } from './lifecycle.js';
import { liveSession, lookup, view } from './lookup.js';
import { revokeFamilyById } from './persistent-logins.js';
import type { MySessionsScope, MySessionView } from './types.js';

/**
 * Lists the user's sessions at the site through one of their live session ids (ListMySessions,
 * SPEC rule 20): exactly that user's live sessions there, `current` set on the caller's own.
 */
export async function listMine(ctx: SessionContext, id: string, client?: ClientInfo): Promise<MySessionView[]> {
  const { s } = await liveSession(ctx, id, client);
  const now = ctx.deps.clock.now();
  const out: MySessionView[] = [];
  for (const h of await ctx.deps.store.userSessions(s.rec.site, s.rec.user)) {
    const other = h === s.hash ? s : await lookup(ctx, h);
    const v = other ? view(ctx, other, now) : null;
    if (!v || v.rec.site !== s.rec.site || v.rec.user !== s.rec.user) continue;
    out.push({
      view: v,
      present: ctx.deps.presence.hasConnection(h) || ctx.deps.presenceMirror.hasPresence(h),
      persistent: !!v.rec.loginFamily,
      current: h === s.hash,
    });
  }
  return out;
}

/**
 * Ends the user's other sessions, all of them, or one by handle (EndMySessions, SPEC rule 20), with
 * the guarantees of an admin revoke: the user's revocation marker rounds (no racing login or
 * re-authentication escapes) and the token families of the ended sessions revoked, so no device
 * resumes. Returns how many sessions ended.
 */
export async function endMine(ctx: SessionContext, id: string, scope: MySessionsScope, handle: string, client?: ClientInfo): Promise<number> {
  const { s } = await liveSession(ctx, id, client);
  const { site, user } = s.rec;
  if (scope === 'ONE') {
    requireName('handle', handle);
    const target = (await ctx.deps.store.userSessions(site, user)).find((h) => handleOf(h) === handle);
    if (!target) throw new SessionHandleNotFoundError();
    const family = (target === s.hash ? s : (await ctx.deps.store.get(target)).session)?.rec.loginFamily;
    let n = (await endLineage(ctx.lineage, target, 'LOGGED_OUT')) ? 1 : 0;
    if (family) n += await revokeFamilyById(ctx, family, 'LOGGED_OUT');
    return n;
  }
  const keep = scope === 'OTHERS' ? s.hash : undefined;
  let n = 0;
  if (ctx.deps.families) {
    for (const fid of await ctx.deps.families.ofUser(site, user)) {
      if (keep && fid === s.rec.loginFamily) continue;
      n += await revokeFamilyById(ctx, fid, 'LOGGED_OUT', keep);
    }
  }
  const ended = await ctx.deps.store.revokeUser(site, user, { ...(keep ? { keep } : {}), reason: 'LOGGED_OUT' });
  for (const e of ended) afterEnd(ctx, e.s, e.reason, true);
  return n + ended.length;
}
