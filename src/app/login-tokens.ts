import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { MalformedLoginTokenError } from '../domain/errors.js';

/** Length of a persistent-login token: 32 random bytes (256 bits) in URL-safe base64 without padding. */
export const LOGIN_TOKEN_LENGTH = 43;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** Generates a new persistent-login token from 256 bits of the OS's cryptographic randomness. */
export function generateLoginToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Generates a token family id (random, not secret: it names the family in keys and records). */
export function generateFamilyId(): string {
  return randomBytes(16).toString('base64url');
}

/** Throws MALFORMED_LOGIN_TOKEN unless `token` has the shape of a login token (checked before any lookup). */
export function requireLoginToken(token: string): void {
  if (token.length !== LOGIN_TOKEN_LENGTH || !TOKEN_PATTERN.test(token)) throw new MalformedLoginTokenError();
}

/** Hashes a login token for storage: the token itself is never stored (SPEC rule 19). */
export function hashLoginToken(token: string): string {
  // Domain-separated from session id hashes, so a token can never name a session key or vice versa.
  return createHash('sha256').update(`login-token\n${token}`).digest('base64url');
}

/** What a spent token's holder may recover within the reuse grace: the successor token and session id. */
export interface Successor {
  readonly token: string;
  readonly sessionId: string;
}

function keyFrom(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token), Buffer.alloc(0), Buffer.from('sessionmanager login successor v1'), 32));
}

/**
 * Seals the successor with AES-256-GCM under a key derived from the spent token: only someone who
 * presents that token can open it, and etcd holds no secret in clear.
 */
export function sealSuccessor(spentToken: string, s: Successor): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFrom(spentToken), iv);
  const ct = Buffer.concat([c.update(JSON.stringify({ t: s.token, s: s.sessionId })), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url');
}

/** Opens a sealed successor with the spent token; null when it does not open (wrong token, corrupt). */
export function openSuccessor(spentToken: string, sealed: string): Successor | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const d = createDecipheriv('aes-256-gcm', keyFrom(spentToken), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    const v = JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString()) as { t: string; s: string };
    return { token: v.t, sessionId: v.s };
  } catch {
    return null;
  }
}
