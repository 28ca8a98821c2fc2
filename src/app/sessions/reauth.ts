import { withActivity } from '../../domain/decisions.js';
import { SessionNotFoundError, UserMismatchError } from '../../domain/errors.js';
import type { SessionRecord } from '../../domain/session.js';
import { carriedBinding, type ClientInfo } from '../bindings.js';
import { AGAIN, casRetry } from '../cas-retry.js';
import { generateSessionId, hashSessionId } from '../ids.js';
import { requireName } from '../validation.js';
import type { SessionContext } from './context.js';
import { afterEnd } from './lifecycle.js';
import { liveSession, view } from './lookup.js';
import type { SessionView } from './types.js';

/**
 * Re-authenticates (SPEC rule 3): same user, data kept, fresh absolute window, and a new id — the
 * old one stops working at once on every node (no session fixation).
 */
export async function reauthenticate(ctx: SessionContext, id: string, user: string, client?: ClientInfo): Promise<{ id: string; view: SessionView }> {
  requireName('user', user);
  let { s } = await liveSession(ctx, id, client);
  if (s.rec.user !== user) throw new UserMismatchError();
  const newId = generateSessionId();
  const newHash = hashSessionId(newId);
  return casRetry(
    async () => {
      const now = ctx.deps.clock.now();
      const base = withActivity(s.rec, ctx.deps.touches.activity(s));
      const next: SessionRecord = {
        ...base,
        state: 'ACTIVE',
        lastAccessAt: now,
        absoluteDeadline: base.policy.absoluteMs > 0 ? now + base.policy.absoluteMs : 0,
        // The bindings follow the session to its new id (the client was checked against them above).
        binding: carriedBinding(base.binding, client),
      };
      const created = await ctx.deps.store.reauthenticate(s, newHash, next, ctx.deps.touches.ttlFor(next));
      if (created) {
        ctx.deps.cache.upsert(created);
        afterEnd(ctx, s, 'LOGGED_OUT', false);
        const v = view(ctx, created, now);
        if (!v) throw new SessionNotFoundError();
        return { id: newId, view: v };
      }
      const fresh = (await ctx.deps.store.get(s.hash)).session;
      if (!fresh) throw new SessionNotFoundError();
      ctx.deps.cache.upsert(fresh);
      s = fresh;
      return AGAIN;
    },
    { attempts: ctx.options.maxCas },
  );
}
