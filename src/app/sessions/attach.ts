import { SessionNotFoundError } from '../../domain/errors.js';
import { IDLE_CONNECTION_BOUND } from '../../domain/policy.js';
import type { ClientInfo } from '../bindings.js';
import { AGAIN, casRetry } from '../cas-retry.js';
import { requireName } from '../validation.js';
import type { SessionContext } from './context.js';
import { liveSession } from './lookup.js';
import type { Attachment } from './types.js';

/**
 * Opens a connection (Attach, SPEC rule 6): publishes presence under the node lease and marks the
 * record attached. The returned detach() records when the last connection anywhere went.
 */
export async function attach(ctx: SessionContext, id: string, instanceId: string, client?: ClientInfo): Promise<Attachment> {
  requireName('instance_id', instanceId);
  const { s } = await liveSession(ctx, id, client);
  const hash = s.hash;
  if (!(await ctx.deps.presence.attach(hash))) throw new SessionNotFoundError();
  await setConnectionLost(ctx, hash, 0);
  let detached = false;
  return {
    hash,
    detach: async () => {
      if (detached) return;
      detached = true;
      const noneHere = await ctx.deps.presence.detach(hash);
      if (noneHere && !ctx.deps.presenceMirror.hasConnectionElsewhere(hash, ctx.options.nodeId)) {
        await setConnectionLost(ctx, hash, ctx.deps.clock.now());
      }
    },
  };
}

/**
 * Writes a connection-bound record's connectionLostAt (0 = attached), with compare-and-swap retries.
 * One write per session at a time: a burst of attaches of one session costs one etcd write.
 */
function setConnectionLost(ctx: SessionContext, hash: string, at: number): Promise<void> {
  return ctx.connectionWrites.run(hash, () =>
    casRetry(
      async () => {
        const s = ctx.deps.cache.get(hash) ?? (await ctx.deps.store.get(hash)).session;
        if (!s || s.rec.policy.idleMs !== IDLE_CONNECTION_BOUND) return;
        if ((at === 0) === (s.rec.connectionLostAt === 0)) return;
        const written = await ctx.deps.store.setConnectionLost(s, at);
        if (written) {
          ctx.deps.cache.upsert(written);
          return;
        }
        const fresh = (await ctx.deps.store.get(hash)).session;
        if (fresh) ctx.deps.cache.upsert(fresh);
        return AGAIN;
      },
      { attempts: ctx.options.maxCas },
    ),
  );
}
