import { createHash, randomBytes } from 'node:crypto';
import { formatSessionId, SESSION_ID_BYTES } from '../domain/ids.js';

/** Generates a new secret session id from 256 bits of the OS's cryptographic randomness. */
export function generateSessionId(): string {
  return formatSessionId(randomBytes(SESSION_ID_BYTES));
}

/** Hashes a session id for use as its store key; the id itself is never stored (SPEC rule 13). */
export function hashSessionId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** Generates an attribute etag (random, so rewriting the same value still yields a new one). */
export function generateEtag(): string {
  return randomBytes(9).toString('base64url');
}

/** A short, non-secret handle of a session for logs and admin output: a prefix of its hash. */
export function handleOf(hash: string): string {
  return hash.slice(0, 10);
}
