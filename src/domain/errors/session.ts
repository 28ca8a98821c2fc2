// Errors of the session use cases: lookup, login limits and refusals, re-authentication, bindings, handles.
import { SessionManagerError } from './base.js';

/** A site that the configuration does not list. */
export class SiteNotFoundError extends SessionManagerError {
  readonly reason = 'SITE_NOT_FOUND';
  constructor(site: string) {
    super(`session: unknown site ${JSON.stringify(site)}`, { site });
  }
}

/** No live session has this id (never existed, ended, or expired). */
export class SessionNotFoundError extends SessionManagerError {
  readonly reason = 'SESSION_NOT_FOUND';
  constructor() {
    super('session: not found');
  }
}

/** A write that kept losing optimistic-concurrency races and gave up. */
export class ConcurrentUpdateError extends SessionManagerError {
  readonly reason = 'CONCURRENT_UPDATE';
  constructor() {
    super('session: the session changed concurrently; retry');
  }
}

/** The session store holds `session.max-sessions` live sessions already. */
export class SessionLimitReachedError extends SessionManagerError {
  readonly reason = 'SESSION_LIMIT_REACHED';
  constructor(max: number) {
    super(`session: the cluster holds its maximum of ${max} sessions`, { max_sessions: String(max) });
  }
}

/** A login refused because the user's session elsewhere still has presence (SPEC rule 7). */
export class SessionActiveElsewhereError extends SessionManagerError {
  readonly reason = 'SESSION_ACTIVE_ELSEWHERE';
  constructor() {
    super('session: the user has an active session with presence on another device; log out there or wait for it to close');
  }
}

/** A login refused by `session.limit.per-user.<type>` with `session.limit.action=deny` (SPEC rule 8). */
export class UserSessionLimitError extends SessionManagerError {
  readonly reason = 'USER_SESSION_LIMIT';
  constructor(type: string, max: number) {
    super(`session: the user already has ${max} ${type} session(s), the maximum`, { client_type: type, max: String(max) });
  }
}

/** A re-authentication by a different user than the session's. */
export class UserMismatchError extends SessionManagerError {
  readonly reason = 'USER_MISMATCH';
  constructor() {
    super('session: re-authentication must be by the session\'s own user');
  }
}

/** A CLIENT_ADDRESS request while the server has no id key configured. */
export class IdModeDisabledError extends SessionManagerError {
  readonly reason = 'ID_MODE_DISABLED';
  constructor() {
    super('session: CLIENT_ADDRESS ids need the server id key (--id-key-file); use tickets');
  }
}

/** A CLIENT_ADDRESS login for a client address that already has a session. */
export class SessionExistsError extends SessionManagerError {
  readonly reason = 'SESSION_EXISTS';
  constructor() {
    super('session: this client address already has a session; end it first');
  }
}

/** A request whose client (IP address, user agent) does not match the session's bindings (SPEC rule 13). */
export class BindingMismatchError extends SessionManagerError {
  readonly reason = 'BINDING_MISMATCH';
  constructor() {
    super('session: the request comes from another client than the session is bound to');
  }
}

/** A session handle (EndMySessions SCOPE_ONE) that names none of the user's sessions at the site. */
export class SessionHandleNotFoundError extends SessionManagerError {
  readonly reason = 'SESSION_HANDLE_NOT_FOUND';
  constructor() {
    super('session: no session of yours has this handle', { field: 'handle' });
  }
}
