import type { SessionStore, StoredSession } from '../domain/ports.js';
import type { EndReason } from '../domain/session.js';

/** Steps of endLineage before it gives up (each a re-authentication or a record change raced it). */
const MAX_STEPS = 64;

/** What endLineage needs: the store, and a way to end one stored session with the service's bookkeeping. */
export interface LineageDeps {
  store(): SessionStore;
  /** Ends `s` if it is still that incarnation; false when it changed or vanished meanwhile. */
  end(s: StoredSession, reason: EndReason): Promise<boolean>;
}

/**
 * Ends the session a hash names or, when a Reauthenticate moved it to a new id, the session that
 * replaced it (following forward pointers, issue 10 item 4): a revoke by ref or a logout with an id
 * that a racing re-authentication just replaced still ends the user's session. Returns false when
 * neither the session nor a successor exists.
 */
export async function endLineage(deps: LineageDeps, hash: string, reason: EndReason): Promise<boolean> {
  let h = hash;
  for (let i = 0; i < MAX_STEPS; i++) {
    const { session, successor } = await deps.store().getOrSuccessor(h);
    if (session) {
      if (await deps.end(session, reason)) return true;
      continue; // changed meanwhile (re-authenticated, or re-created): read again
    }
    if (!successor) return false;
    h = successor;
  }
  return false;
}
