import type { ClientType } from './client-type.js';
import { SessionActiveElsewhereError, UserSessionLimitError, type SessionManagerError } from './errors.js';
import type { ClusterPolicy } from './policy.js';
import type { EndReason } from './session.js';

/** One existing session of the user at the site, as the user index and presence keys show it. */
export interface ExistingSession {
  /** Hash of the session's id (the store key). */
  readonly hash: string;
  readonly clientType: ClientType;
  readonly deviceId: string;
  /** When it was created (epoch ms); terminate-oldest ends the oldest first. */
  readonly createdAt: number;
  /** An instance heart-beat within the presence grace, or a connection is open, on some node. */
  readonly present: boolean;
}

/** What a login must do first: refuse, or end these sessions in the same transaction. */
export type LoginPlan =
  | { readonly kind: 'refuse'; readonly error: SessionManagerError }
  | { readonly kind: 'proceed'; readonly end: ReadonlyArray<{ readonly hash: string; readonly reason: EndReason }> };

/**
 * Plans a login against the user's existing sessions (SPEC rules 7 and 8):
 * - one session per user per site for the types in `session.single-per-user`: a login from another
 *   device is refused while the existing session has presence, and replaces it otherwise; a login from
 *   the same device always replaces;
 * - other types: `session.limit.per-user.<type>` with `deny` (refuse) or `terminate-oldest`.
 */
export function planLogin(policy: ClusterPolicy, type: ClientType, deviceId: string, existing: readonly ExistingSession[]): LoginPlan {
  const same = existing.filter((e) => e.clientType === type);
  if (policy.singlePerUser.has(type)) {
    if (same.some((e) => e.deviceId !== deviceId && e.present)) return { kind: 'refuse', error: new SessionActiveElsewhereError() };
    return { kind: 'proceed', end: same.map((e) => ({ hash: e.hash, reason: 'REPLACED' as const })) };
  }
  const max = policy.limitPerUser[type];
  if (max > 0 && same.length >= max) {
    if (policy.limitAction === 'deny') return { kind: 'refuse', error: new UserSessionLimitError(type, max) };
    const oldest = [...same].sort((a, b) => a.createdAt - b.createdAt || a.hash.localeCompare(b.hash));
    return { kind: 'proceed', end: oldest.slice(0, same.length - max + 1).map((e) => ({ hash: e.hash, reason: 'REPLACED' as const })) };
  }
  return { kind: 'proceed', end: [] };
}
