import { AttributeNotFoundError, SessionNotFoundError, TooManyAttributesError } from '../../domain/errors.js';
import type { AttributeCondition, StoredAttribute } from '../../domain/ports.js';
import type { ClientInfo } from '../bindings.js';
import { AGAIN, casRetry } from '../cas-retry.js';
import { generateEtag } from '../ids.js';
import { requireAttribute, requireName } from '../validation.js';
import type { SessionContext } from './context.js';
import { liveSession } from './lookup.js';

/** Reads one attribute (GetAttribute). */
export async function getAttribute(ctx: SessionContext, id: string, name: string, client?: ClientInfo): Promise<StoredAttribute> {
  requireName('attribute name', name);
  const { s } = await liveSession(ctx, id, client);
  const attr = await ctx.deps.store.getAttribute(s.hash, name);
  if (!attr) throw new AttributeNotFoundError(name);
  return attr;
}

/** Writes one attribute (SetAttribute), compare-and-swapped on the session record; returns its new etag. */
export async function setAttribute(ctx: SessionContext, id: string, name: string, value: Uint8Array, cond: AttributeCondition, client?: ClientInfo): Promise<string> {
  const { policy } = ctx.deps.config.current();
  requireAttribute(policy, name, value);
  let { s } = await liveSession(ctx, id, client);
  const etag = generateEtag();
  return casRetry(
    async () => {
      if (!s.rec.attributeNames.includes(name) && s.rec.attributeNames.length >= policy.attributeMaxCount) {
        throw new TooManyAttributesError(policy.attributeMaxCount);
      }
      const r = await ctx.deps.store.setAttribute(s, name, value, etag, cond);
      if (r.ok) {
        ctx.deps.cache.upsert(r.session);
        return etag;
      }
      if (!r.current) throw new SessionNotFoundError();
      ctx.deps.cache.upsert(r.current);
      s = r.current;
      return AGAIN;
    },
    { attempts: ctx.options.maxCas },
  );
}

/** Deletes one attribute (DeleteAttribute), compare-and-swapped on the session record. */
export async function deleteAttribute(ctx: SessionContext, id: string, name: string, cond: AttributeCondition, client?: ClientInfo): Promise<void> {
  requireName('attribute name', name);
  let { s } = await liveSession(ctx, id, client);
  return casRetry(
    async () => {
      if (!s.rec.attributeNames.includes(name)) throw new AttributeNotFoundError(name);
      const r = await ctx.deps.store.deleteAttribute(s, name, cond);
      if (r.ok) {
        ctx.deps.cache.upsert(r.session);
        return;
      }
      if (!r.current) throw new SessionNotFoundError();
      ctx.deps.cache.upsert(r.current);
      s = r.current;
      return AGAIN;
    },
    { attempts: ctx.options.maxCas },
  );
}
