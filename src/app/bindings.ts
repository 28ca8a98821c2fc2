import { hash as oneShotHash, randomBytes } from 'node:crypto';
import { BindingMismatchError } from '../domain/errors.js';
import { bindingMatches } from '../domain/decisions.js';
import type { Binding, SessionRecord } from '../domain/session.js';
import { bindingHash } from './ids.js';

/** The end user's connection as the calling service reports it (IP address and user agent). */
export interface ClientInfo {
  ip: string;
  userAgent: string;
}

/** No binding: what an unbound session stores and what a request without client info presents. */
export const UNBOUND: Binding = { ipHash: '', userAgentHash: '' };

/** A new random salt for a session's binding hashes (16 bytes, base64url); not derived from the id. */
export function newBindingSalt(): string {
  return randomBytes(16).toString('base64url');
}

/** Hashes one bound value with a record's salt. */
function saltedHash(salt: string, kind: 'ip' | 'ua', value: string): string {
  return oneShotHash('sha256', `${salt}\n${kind}\n${value}`, 'base64url');
}

/** True when the record is bound to anything. */
export function isBound(b: Binding): boolean {
  return b.ipHash !== '' || b.userAgentHash !== '';
}

/** The binding of a new session: salted hashes of what it is bound to, with a fresh salt (UNBOUND when nothing is). */
export function bindingFor(client: ClientInfo, bindIp: boolean, bindUserAgent: boolean): Binding {
  if (!bindIp && !bindUserAgent) return UNBOUND;
  const salt = newBindingSalt();
  return {
    ipHash: bindIp ? saltedHash(salt, 'ip', client.ip) : '',
    userAgentHash: bindUserAgent ? saltedHash(salt, 'ua', client.userAgent) : '',
    salt,
  };
}

/**
 * Hashes what a request presents the way the record's bindings were hashed: with the record's salt,
 * or, for records of the previous format (no salt), with the session id. Nothing is hashed for an
 * unbound record (the hot path pays nothing).
 */
export function presentedBinding(bound: Binding, sessionId: string, client: ClientInfo | undefined): Binding {
  if (!isBound(bound) || !client) return UNBOUND;
  const hash = (kind: 'ip' | 'ua', value: string) => (bound.salt ? saltedHash(bound.salt, kind, value) : bindingHash(sessionId, kind, value));
  return {
    ipHash: bound.ipHash && client.ip ? hash('ip', client.ip) : '',
    userAgentHash: bound.userAgentHash && client.userAgent ? hash('ua', client.userAgent) : '',
  };
}

/** Refuses (BindingMismatchError) a request whose client does not match the session's bindings. */
export function requireBinding(rec: SessionRecord, sessionId: string, client: ClientInfo | undefined): void {
  if (!bindingMatches(rec.binding, presentedBinding(rec.binding, sessionId, client))) throw new BindingMismatchError();
}

/**
 * The binding a re-authenticated record carries to its new id: the same salted hashes, or — for a
 * record of the previous format, whose hashes were salted with the old id — the checked client's
 * values re-hashed with a fresh salt.
 */
export function carriedBinding(bound: Binding, client: ClientInfo | undefined): Binding {
  if (!isBound(bound) || bound.salt) return bound;
  const c = client ?? { ip: '', userAgent: '' };
  return bindingFor(c, bound.ipHash !== '', bound.userAgentHash !== '');
}
