import {
  InvalidFieldError,
  LoginTokenDeviceMismatchError,
  LoginTokenExpiredError,
  LoginTokenNotFoundError,
  LoginTokenReusedError,
  PersistentLoginNotAllowedError,
  SessionNotFoundError,
} from '../../domain/errors.js';
import { decideResume, LoginFamilyChangedError, rotated } from '../../domain/login-family.js';
import { sessionPolicyFor } from '../../domain/policy.js';
import type { LoginFamilyStore, LoginTokenWrite, StoredFamily } from '../../domain/ports.js';
import { newSessionRecord, type EndReason } from '../../domain/session.js';
import { bindingFor, type ClientInfo } from '../bindings.js';
import { AGAIN, casRetry } from '../cas-retry.js';
import { generateSessionId, hashSessionId } from '../ids.js';
import { endLineage } from '../lineage.js';
import { generateLoginToken, hashLoginToken, openSuccessor, requireLoginToken, sealSuccessor } from '../login-tokens.js';
import { requireName, requireSite } from '../validation.js';
import type { SessionContext } from './context.js';
import { storeLogin } from './login.js';
import { lookup, view } from './lookup.js';
import type { SessionView } from './types.js';

/** The token family store, or PERSISTENT_LOGIN_NOT_ALLOWED when this node has none. */
function familiesOf(ctx: SessionContext): LoginFamilyStore {
  if (!ctx.deps.families) throw new PersistentLoginNotAllowedError('any');
  return ctx.deps.families;
}

/** The site of the family a login token belongs to, or undefined: the transport checks it before the call writes anything (SPEC rule 21). */
export async function siteOfLoginToken(ctx: SessionContext, token: string): Promise<string | undefined> {
  requireLoginToken(token);
  return (await familiesOf(ctx).byToken(hashLoginToken(token)))?.family.site;
}

/**
 * Resumes a persistent login (ResumeSession, SPEC rule 19): creates a new session for the family's
 * user with the policy and login rules in force now and rotates the token in the same txn. A spent
 * token presented again within the reuse grace gets the same successor; later, the whole family is
 * revoked (TOKEN_REUSED) and the call fails LOGIN_TOKEN_REUSED.
 */
export async function resume(
  ctx: SessionContext,
  token: string,
  deviceId: string,
  client?: ClientInfo,
): Promise<{ id: string; view: SessionView; loginToken: string }> {
  requireLoginToken(token);
  requireName('device_id', deviceId);
  const families = familiesOf(ctx);
  const tokenHash = hashLoginToken(token);
  return casRetry(
    async () => {
      const f = await families.byToken(tokenHash);
      if (!f) throw new LoginTokenNotFoundError();
      const { policy } = ctx.deps.config.current();
      const now = ctx.deps.clock.now();
      const d = decideResume(f.family, tokenHash, deviceId, now, policy.persistentReuseGraceMs);
      if (d.kind === 'device') throw new LoginTokenDeviceMismatchError();
      if (d.kind === 'expired') throw new LoginTokenExpiredError();
      if (d.kind === 'revoked') throw d.reason === 'TOKEN_REUSED' ? new LoginTokenReusedError() : new LoginTokenNotFoundError();
      if (d.kind === 'grace') {
        const succ = openSuccessor(token, d.sealed);
        if (succ) {
          const s = await lookup(ctx, hashSessionId(succ.sessionId));
          const v = s ? view(ctx, s, now) : null;
          if (!v) throw new SessionNotFoundError();
          return { id: succ.sessionId, view: v, loginToken: succ.token };
        }
      }
      if (d.kind !== 'resume') {
        await revokeFamily(ctx, f, 'TOKEN_REUSED');
        throw new LoginTokenReusedError();
      }
      const fam = f.family;
      requireSite(policy, fam.site);
      if (!policy.persistentTypes.has(fam.clientType)) throw new PersistentLoginNotAllowedError(fam.clientType);
      const c = client ?? { ip: '', userAgent: '' };
      const bind = fam.bind;
      if (bind?.ip && !c.ip) throw new InvalidFieldError('client.ip', 'required: the login was bound to it');
      if (bind?.userAgent && !c.userAgent) throw new InvalidFieldError('client.user_agent', 'required: the login was bound to it');
      const id = generateSessionId();
      const hash = hashSessionId(id);
      const next = generateLoginToken();
      const nextHash = hashLoginToken(next);
      const rec = newSessionRecord({
        site: fam.site,
        user: fam.user,
        clientType: fam.clientType,
        deviceId: fam.deviceId,
        policy: sessionPolicyFor(policy, fam.clientType),
        attributeNames: [],
        now,
        binding: bindingFor(c, !!bind?.ip, !!bind?.userAgent),
      });
      const write: LoginTokenWrite = {
        familyId: f.id,
        expectMod: f.version,
        tokenHash: nextHash,
        family: rotated(fam, nextHash, sealSuccessor(token, { token: next, sessionId: id }), hash, now),
      };
      try {
        const v = await storeLogin(ctx, policy, hash, { ...rec, loginFamily: f.id }, new Map(), now, write);
        return { id, view: v, loginToken: next };
      } catch (err) {
        // A racing resume or revoke changed the family: decide again (grace, reuse or revoked).
        if (!(err instanceof LoginFamilyChangedError)) throw err;
        return AGAIN;
      }
    },
    { attempts: ctx.options.maxCas },
  );
}

/**
 * Revokes a token family: marks it revoked (every token of it is dead) by compare-and-swap, then ends
 * every session created from it, following re-authentications. A resume racing the mark fails its
 * own compare on the family, so no session escapes. Returns how many sessions ended.
 */
export async function revokeFamily(ctx: SessionContext, f: StoredFamily | null, reason: EndReason, except?: string): Promise<number> {
  const families = familiesOf(ctx);
  const attempts = ctx.options.maxCas * 8;
  let cur = f;
  await casRetry(
    async (i) => {
      if (!cur || cur.family.revokedAt !== undefined) return;
      if (await families.revoke(cur, reason, ctx.deps.clock.now())) return;
      // The last attempt gives up without reading the family again.
      if (i + 1 < attempts) cur = await families.get(cur.id);
      return AGAIN;
    },
    { attempts },
  );
  if (!cur) return 0;
  let n = 0;
  for (const h of cur.family.sessions) {
    if (h !== except && (await endLineage(ctx.lineage, h, reason))) n++;
  }
  return n;
}

/** Revokes the family with this id, if any (see revokeFamily); 0 when this node has no family store. */
export async function revokeFamilyById(ctx: SessionContext, familyId: string, reason: EndReason, except?: string): Promise<number> {
  if (!ctx.deps.families) return 0;
  return revokeFamily(ctx, await ctx.deps.families.get(familyId), reason, except);
}
