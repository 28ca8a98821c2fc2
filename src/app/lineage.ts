import type { SessionStore, StoredSession } from '../domain/ports.js';
import type { EndReason } from '../domain/session.js';
import { AGAIN, casRetry } from './cas-retry.js';

/** Steps of endLineage before it gives up (each a re-authentication or a record change raced it). */
const MAX_STEPS = 64;

/**
 * How long after a re-authentication a logout with the replaced id still follows it to the new
 * session: long enough for a logout that raced the re-authentication, short enough that a stale id
 * found later cannot log the user out. Revokes follow for as long as the pointer lives.
 */
export const LOGOUT_FOLLOW_WINDOW_MS = 10_000;

/** What endLineage needs: the store, and a way to end one stored session with the service's bookkeeping. */
export interface LineageDeps {
  store(): SessionStore;
  /** Ends `s` if it is still that incarnation; false when it changed or vanished meanwhile. */
  end(s: StoredSession, reason: EndReason): Promise<boolean>;
  /** Wall-clock now (ms), for `maxPointerAgeMs`. */
  now(): number;
}

/**
 * Ends the session a hash names or, when a Reauthenticate moved it to a new id, the session that
 * replaced it (following forward pointers, issue 10 item 4): a revoke by ref or a logout with an id
 * that a racing re-authentication just replaced still ends the user's session. Returns false when
 * neither the session nor a successor exists.
 */
export async function endLineage(deps: LineageDeps, hash: string, reason: EndReason, maxPointerAgeMs = Infinity): Promise<boolean> {
  let h = hash;
  return casRetry<boolean>(
    async () => {
      const { session, successor, successorAt } = await deps.store().getOrSuccessor(h);
      // Changed meanwhile (re-authenticated, or re-created): read again.
      if (session) return (await deps.end(session, reason)) ? true : AGAIN;
      if (!successor) return false;
      // A pointer without a time (written by an older version) counts as old.
      if (maxPointerAgeMs !== Infinity && !(successorAt > 0 && deps.now() - successorAt <= maxPointerAgeMs)) return false;
      h = successor;
      return AGAIN;
    },
    { attempts: MAX_STEPS, exhausted: () => false },
  );
}
