import { createHash, createHmac, hash, randomBytes } from 'node:crypto';
import { formatSessionId, SESSION_ID_BYTES } from '../domain/ids.js';

/** Generates a new secret session id from 256 bits of the OS's cryptographic randomness. */
export function generateSessionId(): string {
  return formatSessionId(randomBytes(SESSION_ID_BYTES));
}

/** Hashes a session id for use as its store key; the id itself is never stored (SPEC rule 13). */
export function hashSessionId(id: string): string {
  // One-shot crypto.hash: no Hash object per call (the validate hot path hashes every request's id).
  return hash('sha256', id, 'base64url');
}

/** Generates an attribute etag (random, so rewriting the same value still yields a new one). */
export function generateEtag(): string {
  return randomBytes(9).toString('base64url');
}

/** A short, non-secret handle of a session for logs and admin output: a prefix of its hash. */
export function handleOf(hash: string): string {
  return hash.slice(0, 10);
}

/**
 * Derives the id of a CLIENT_ADDRESS session (SPEC rule 13, DAF scenario 2) from site, IP address and
 * user agent with a keyed HMAC: the same client gets the same id, and nobody without the key can
 * compute another client's.
 */
export function deriveClientAddressId(key: Buffer, site: string, ip: string, userAgent: string): string {
  return createHmac('sha256', key).update(`${site}\n${ip}\n${userAgent}`).digest('base64url');
}

/**
 * Hashes a bound value (IP or user agent) salted with the secret session id: the binding hashes of
 * records of the previous format (no binding salt, see app/bindings.ts), still checked on read.
 */
export function bindingHash(sessionId: string, kind: 'ip' | 'ua', value: string): string {
  return createHash('sha256').update(`${sessionId}\n${kind}\n${value}`).digest('base64url');
}
