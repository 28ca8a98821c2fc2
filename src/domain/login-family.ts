import type { ClientType } from './client-type.js';
import type { EndReason } from './session.js';

/**
 * LoginFamily is one chain of rotating persistent-login tokens (SPEC rule 19): issued at a login with
 * `persistent`, bound to site, user, client type and device. Only hashes of its tokens are kept.
 */
export interface LoginFamily {
  readonly site: string;
  readonly user: string;
  readonly clientType: ClientType;
  readonly deviceId: string;
  /** When the family was issued (epoch ms). */
  readonly issuedAt: number;
  /** Absolute end of the family: issuedAt + session.persistent.lifetime at issue. */
  readonly expiresAt: number;
  /** session.persistent.idle at issue: the family ends when unused this long. */
  readonly idleMs: number;
  /** When a token of the family was last issued or used. */
  readonly lastUsedAt: number;
  /** Hash of the one token that may be presented now. */
  readonly current: string;
  /** The token spent last: its hash, when, and its successor sealed with a key derived from it (for the reuse grace). */
  readonly previous?: { readonly hash: string; readonly spentAt: number; readonly sealed: string };
  /** Hashes of the sessions created from the family (newest last; capped at MAX_FAMILY_SESSIONS). */
  readonly sessions: readonly string[];
  /** Set when the family was revoked: every token of it is dead. */
  readonly revokedAt?: number;
  /** Why it was revoked (TOKEN_REUSED, LOGGED_OUT for "forget this device", REVOKED by an admin). */
  readonly revokedReason?: EndReason;
  /** The bindings the first login asked for; every resumed session is bound the same way. */
  readonly bind?: { readonly ip: boolean; readonly userAgent: boolean };
}

/** Most session hashes a family remembers (older ones have long been replaced or ended). */
export const MAX_FAMILY_SESSIONS = 256;

/** What a presented token leads to. */
export type ResumeDecision =
  | { kind: 'resume' }
  | { kind: 'grace'; sealed: string }
  | { kind: 'reused' }
  | { kind: 'revoked'; reason: EndReason }
  | { kind: 'expired' }
  | { kind: 'device' };

/**
 * Decides what presenting the token with hash `tokenHash` from `deviceId` at `now` does (pure):
 * another device is refused before anything else; an expired or revoked family refuses; the current
 * token resumes; the token spent last, again within `graceMs`, gets the same successor (two tabs
 * racing); any other spent token was copied — the family is to be revoked (OAuth 2.1 §6.1).
 */
export function decideResume(f: LoginFamily, tokenHash: string, deviceId: string, now: number, graceMs: number): ResumeDecision {
  if (f.deviceId !== deviceId) return { kind: 'device' };
  if (f.revokedAt !== undefined) return { kind: 'revoked', reason: f.revokedReason ?? 'REVOKED' };
  if (now >= f.expiresAt || now >= f.lastUsedAt + f.idleMs) return { kind: 'expired' };
  if (tokenHash === f.current) return { kind: 'resume' };
  if (f.previous && f.previous.hash === tokenHash && now - f.previous.spentAt <= graceMs) return { kind: 'grace', sealed: f.previous.sealed };
  return { kind: 'reused' };
}

/** The family after its current token was spent at `now` for a successor with hash `nextHash`, creating session `sessionHash`. */
export function rotated(f: LoginFamily, nextHash: string, sealed: string, sessionHash: string, now: number): LoginFamily {
  const sessions = [...f.sessions, sessionHash].slice(-MAX_FAMILY_SESSIONS);
  return { ...f, current: nextHash, previous: { hash: f.current, spentAt: now, sealed }, lastUsedAt: now, sessions };
}

/** Thrown by a store when a login's token family changed since it was read (a racing resume or revoke): decide again. */
export class LoginFamilyChangedError extends Error {
  constructor() {
    super('login family changed meanwhile');
    this.name = 'LoginFamilyChangedError';
  }
}
