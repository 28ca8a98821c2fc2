import type { ClientType } from '../../domain/client-type.js';
import { standing } from '../../domain/decisions.js';
import { IdModeDisabledError, InvalidFieldError, PersistentLoginNotAllowedError, SessionExistsError } from '../../domain/errors.js';
import { planLogin } from '../../domain/login.js';
import type { LoginFamily } from '../../domain/login-family.js';
import { sessionPolicyFor, type ClusterPolicy } from '../../domain/policy.js';
import type { LoginTokenWrite } from '../../domain/ports.js';
import { newSessionRecord, type Binding, type SessionRecord } from '../../domain/session.js';
import { bindingFor } from '../bindings.js';
import { deriveClientAddressId, generateEtag, generateSessionId, hashSessionId } from '../ids.js';
import { generateFamilyId, generateLoginToken, hashLoginToken } from '../login-tokens.js';
import { requireAttributes, requireClientType, requireName, requireSite } from '../validation.js';
import type { SessionContext } from './context.js';
import { afterEnd } from './lifecycle.js';
import { connectionOf, lookup } from './lookup.js';
import type { CreateInput, SessionView } from './types.js';

/** Logs a user in (CreateSession), applying one-session-per-user, per-user limits and the session cap. */
export async function create(ctx: SessionContext, input: CreateInput): Promise<{ id: string; view: SessionView; loginToken?: string }> {
  const { policy } = ctx.deps.config.current();
  requireSite(policy, input.site);
  requireName('user', input.user);
  const clientType: ClientType = requireClientType(input.clientType);
  requireName('device_id', input.deviceId);
  if (input.persistent) {
    if (!policy.persistentTypes.has(clientType) || !ctx.deps.families) throw new PersistentLoginNotAllowedError(clientType);
    if (input.idMode === 'CLIENT_ADDRESS') throw new InvalidFieldError('persistent', 'not available with ID_MODE_CLIENT_ADDRESS');
  }
  requireAttributes(policy, input.attributes);
  const now = ctx.deps.clock.now();
  const client = input.client ?? { ip: '', userAgent: '' };
  if ((input.bindIp || input.idMode === 'CLIENT_ADDRESS') && !client.ip) throw new InvalidFieldError('client.ip', 'required for this id mode or binding');
  if ((input.bindUserAgent || input.idMode === 'CLIENT_ADDRESS') && !client.userAgent) {
    throw new InvalidFieldError('client.user_agent', 'required for this id mode or binding');
  }
  let id: string;
  if (input.idMode === 'CLIENT_ADDRESS') {
    if (!ctx.options.idKey) throw new IdModeDisabledError();
    id = deriveClientAddressId(ctx.options.idKey, input.site, client.ip, client.userAgent);
    if (await lookup(ctx, hashSessionId(id))) throw new SessionExistsError();
  } else {
    id = generateSessionId();
  }
  const hash = hashSessionId(id);
  const binding: Binding = bindingFor(client, !!input.bindIp, !!input.bindUserAgent);
  let loginToken: string | undefined;
  let token: LoginTokenWrite | undefined;
  let familyId: string | undefined;
  if (input.persistent) {
    loginToken = generateLoginToken();
    familyId = generateFamilyId();
    const tokenHash = hashLoginToken(loginToken);
    const family: LoginFamily = {
      site: input.site,
      user: input.user,
      clientType,
      deviceId: input.deviceId,
      issuedAt: now,
      expiresAt: now + policy.persistentLifetimeMs,
      idleMs: policy.persistentIdleMs,
      lastUsedAt: now,
      current: tokenHash,
      sessions: [hash],
      ...(input.bindIp || input.bindUserAgent ? { bind: { ip: !!input.bindIp, userAgent: !!input.bindUserAgent } } : {}),
    };
    token = { familyId, family, expectMod: 0, tokenHash };
  }
  const rec = newSessionRecord({
    site: input.site,
    user: input.user,
    clientType,
    deviceId: input.deviceId,
    policy: sessionPolicyFor(policy, clientType),
    attributeNames: [...input.attributes.keys()],
    now,
    binding,
  });
  const view = await storeLogin(ctx, policy, hash, familyId ? { ...rec, loginFamily: familyId } : rec, input.attributes, now, token);
  return { id, view, ...(loginToken ? { loginToken } : {}) };
}

/**
 * Writes a login with the rules of CreateSession (one session per user, limits, cap), with an
 * optional token family write in the same txn; the sessions the rules ended get their bookkeeping.
 */
export async function storeLogin(
  ctx: SessionContext,
  policy: ClusterPolicy,
  hash: string,
  rec: SessionRecord,
  attributes: ReadonlyMap<string, Uint8Array>,
  now: number,
  token?: LoginTokenWrite,
): Promise<SessionView> {
  const clientType = rec.clientType;
  const { session, ended } = await ctx.deps.store.login({
    hash,
    rec,
    attributes,
    etags: new Map([...attributes.keys()].map((n) => [n, generateEtag()])),
    ttlMs: ctx.deps.touches.ttlFor(rec),
    plan: (existing) =>
      planLogin(
        policy,
        clientType,
        rec.deviceId,
        // A connection this node holds is presence even before its key is visible elsewhere.
        existing.map((e) => ({ ...e, present: e.present || ctx.deps.presence.hasConnection(e.hash) })),
      ),
    maxSessions: policy.maxSessions,
    userRules: policy.singlePerUser.has(clientType) || policy.limitPerUser[clientType] > 0,
    ...(token ? { token } : {}),
  });
  ctx.deps.cache.upsert(session);
  for (const e of ended) afterEnd(ctx, e.s, e.reason, true);
  ctx.stats.created++;
  ctx.deps.events?.emit('session-created', rec.site, rec.clientType);
  const st = standing(rec, now, connectionOf(ctx, session));
  return { hash, rec, state: 'ACTIVE', idleDeadline: st.kind === 'ENDED' ? now : st.idleDeadline };
}
