/**
 * SessionManagerError is the base of every error the service reports to callers. Each subclass is
 * one condition with a stable `reason`; the transport maps reasons to gRPC codes in one table.
 */
export abstract class SessionManagerError extends Error {
  abstract readonly reason: string;
  readonly metadata: Record<string, string>;

  constructor(message: string, metadata: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.metadata = metadata;
  }
}

/** A session id that is empty, too long or not in the ticket alphabet. */
export class MalformedSessionIdError extends SessionManagerError {
  readonly reason = 'MALFORMED_SESSION_ID';
  constructor() {
    super('session: malformed session id (expected 43 URL-safe base64 characters)', { field: 'session_id' });
  }
}

/** A request field that is missing, too long or otherwise malformed. */
export class InvalidFieldError extends SessionManagerError {
  readonly reason = 'INVALID_FIELD';
  constructor(field: string, problem: string) {
    super(`session: invalid ${field}: ${problem}`, { field });
  }
}

/** A client type outside the known set (or unspecified). */
export class UnknownClientTypeError extends SessionManagerError {
  readonly reason = 'UNKNOWN_CLIENT_TYPE';
  constructor(value: string) {
    super(`session: unknown client type ${JSON.stringify(value)}`, { field: 'client_type' });
  }
}

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

/** The session has no attribute of this name. */
export class AttributeNotFoundError extends SessionManagerError {
  readonly reason = 'ATTRIBUTE_NOT_FOUND';
  constructor(name: string) {
    super(`session: attribute ${JSON.stringify(name)} not found`, { attribute: name });
  }
}

/** An attribute value larger than `session.attributes.max-bytes`. */
export class AttributeTooLargeError extends SessionManagerError {
  readonly reason = 'ATTRIBUTE_TOO_LARGE';
  constructor(name: string, size: number, max: number) {
    super(`session: attribute ${JSON.stringify(name)} is ${size} bytes, the maximum is ${max}`, {
      attribute: name,
      max_bytes: String(max),
    });
  }
}

/** A write that would give the session more than `session.attributes.max-count` attributes. */
export class TooManyAttributesError extends SessionManagerError {
  readonly reason = 'TOO_MANY_ATTRIBUTES';
  constructor(max: number) {
    super(`session: at most ${max} attributes per session`, { max_count: String(max) });
  }
}

/** A conditional attribute write whose etag no longer matches. */
export class EtagMismatchError extends SessionManagerError {
  readonly reason = 'ETAG_MISMATCH';
  constructor(name: string) {
    super(`session: attribute ${JSON.stringify(name)} changed since the given etag`, { attribute: name });
  }
}

/** A create-only attribute write for a name that already exists. */
export class AttributeExistsError extends SessionManagerError {
  readonly reason = 'ATTRIBUTE_EXISTS';
  constructor(name: string) {
    super(`session: attribute ${JSON.stringify(name)} already exists`, { attribute: name });
  }
}

/** A write that kept losing optimistic-concurrency races and gave up. */
export class ConcurrentUpdateError extends SessionManagerError {
  readonly reason = 'CONCURRENT_UPDATE';
  constructor() {
    super('session: the session changed concurrently; retry');
  }
}

/** The store (etcd) cannot be reached or did not answer in time. */
export class StoreUnavailableError extends SessionManagerError {
  readonly reason = 'STORE_UNAVAILABLE';
  constructor(detail: string) {
    super(`store: unavailable: ${detail}`);
  }
}

/** The store refused a write because its space quota is exhausted. */
export class StoreQuotaExceededError extends SessionManagerError {
  readonly reason = 'STORE_QUOTA_EXCEEDED';
  constructor() {
    super('store: etcd space quota exceeded; writes are refused until it is compacted and defragmented');
  }
}

/** A write larger than etcd accepts in one request (about 1.5 MiB). */
export class RequestTooLargeError extends SessionManagerError {
  readonly reason = 'REQUEST_TOO_LARGE';
  constructor() {
    super('store: the write is larger than etcd accepts in one request; store less data per session');
  }
}

/** A request whose bytes are not a valid message of its type. */
export class MalformedRequestError extends SessionManagerError {
  readonly reason = 'MALFORMED_REQUEST';
  constructor() {
    super('request: the message could not be decoded');
  }
}

/** The local mirror has not heard from the store for longer than `cache.max-staleness`. */
export class CacheStaleError extends SessionManagerError {
  readonly reason = 'CACHE_STALE';
  constructor(staleMs: number) {
    super(`cache: no confirmed update from etcd for ${staleMs} ms; refusing to answer from stale data`);
  }
}

/** The node has not finished its first sync or is shutting down. */
export class NotServingError extends SessionManagerError {
  readonly reason = 'NOT_SERVING';
  constructor(state: string) {
    super(`node: not serving (${state})`);
  }
}

/** This node's wall clock is further from the other nodes' than cluster.max-clock-skew: its verdicts and deadlines cannot be trusted. */
export class ClockSkewError extends SessionManagerError {
  readonly reason = 'CLOCK_SKEW';
  constructor(offsetMs: number, boundMs: number) {
    super(`node: wall clock ${offsetMs >= 0 ? 'ahead of' : 'behind'} the other nodes by ${Math.round(Math.abs(offsetMs))} ms, beyond cluster.max-clock-skew (${boundMs} ms); retry on another replica`);
  }
}

/** A stored record that cannot be decoded (unknown version or corrupt bytes). */
export class UnreadableRecordError extends SessionManagerError {
  readonly reason = 'RECORD_UNREADABLE';
  constructor(detail: string) {
    super(`store: unreadable record: ${detail}`);
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

/** An admin call without a valid admin credential (SPEC rule 10). */
export class AdminCredentialError extends SessionManagerError {
  readonly reason = 'ADMIN_CREDENTIAL_REQUIRED';
  constructor(detail: string) {
    super(`admin: ${detail}`);
  }
}

/** A page token that this service did not issue. */
export class InvalidPageTokenError extends SessionManagerError {
  readonly reason = 'INVALID_PAGE_TOKEN';
  constructor() {
    super('admin: invalid page token', { field: 'page_token' });
  }
}

/** A negative page size: refused rather than read as the default (0 means the default). */
export class InvalidPageSizeError extends SessionManagerError {
  readonly reason = 'INVALID_PAGE_SIZE';
  constructor(pageSize: number) {
    super(`admin: page_size must be >= 0 (0 = the default), got ${pageSize}`, { field: 'page_size' });
  }
}

/** A resume token that this service did not issue. */
export class InvalidResumeTokenError extends SessionManagerError {
  readonly reason = 'INVALID_RESUME_TOKEN';
  constructor() {
    super('events: invalid resume token', { field: 'resume_token' });
  }
}

/** A streaming call beyond the node's limit of open streams. */
export class TooManyStreamsError extends SessionManagerError {
  readonly reason = 'TOO_MANY_STREAMS';
  constructor(max: number) {
    super(`node: at most ${max} open streams per node`, { max_streams: String(max) });
  }
}

/** A cache miss while the node already has its maximum of misses waiting for the mirror to catch up. */
export class LookupBacklogFullError extends SessionManagerError {
  readonly reason = 'LOOKUP_BACKLOG_FULL';
  constructor(max: number) {
    super(`node: ${max} unknown session ids are already being looked up; try again shortly`, { max_pending: String(max) });
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

/** A call without any caller credential (no verified client certificate, no bearer token; SPEC rule 21). */
export class CallerCredentialRequiredError extends SessionManagerError {
  readonly reason = 'CALLER_CREDENTIAL_REQUIRED';
  constructor() {
    super('auth: a caller credential is required (a client certificate, or authorization: Bearer <token>)');
  }
}

/** A call whose credential names no caller of the policy (unknown token or certificate identity). */
export class CallerCredentialInvalidError extends SessionManagerError {
  readonly reason = 'CALLER_CREDENTIAL_INVALID';
  constructor(detail: string) {
    super(`auth: ${detail}`);
  }
}

/** An authenticated caller whose policy does not allow the method's class (validate, login, admin). */
export class MethodNotAllowedError extends SessionManagerError {
  readonly reason = 'METHOD_NOT_ALLOWED';
  constructor(caller: string, method: string, methodClass: string) {
    super(`auth: caller ${caller} may not call ${method} (method class ${methodClass})`, { caller, method_class: methodClass });
  }
}

/** An authenticated caller acting on a site its policy does not list. */
export class SiteNotAllowedError extends SessionManagerError {
  readonly reason = 'SITE_NOT_ALLOWED';
  constructor(caller: string, site: string) {
    super(`auth: caller ${caller} may not act on site ${JSON.stringify(site)}`, { caller, site });
  }
}

/** A request whose client (IP address, user agent) does not match the session's bindings (SPEC rule 13). */
export class BindingMismatchError extends SessionManagerError {
  readonly reason = 'BINDING_MISMATCH';
  constructor() {
    super('session: the request comes from another client than the session is bound to');
  }
}

/** A persistent-login token that is empty, too long or not in the token alphabet. */
export class MalformedLoginTokenError extends SessionManagerError {
  readonly reason = 'MALFORMED_LOGIN_TOKEN';
  constructor() {
    super('login token: malformed (expected 43 URL-safe base64 characters)', { field: 'login_token' });
  }
}

/** No persistent-login token with this value exists (never issued, revoked family gone, or removed). */
export class LoginTokenNotFoundError extends SessionManagerError {
  readonly reason = 'LOGIN_TOKEN_NOT_FOUND';
  constructor() {
    super('login token: not found');
  }
}

/** The persistent-login token's lifetime or inactivity limit has passed. */
export class LoginTokenExpiredError extends SessionManagerError {
  readonly reason = 'LOGIN_TOKEN_EXPIRED';
  constructor() {
    super('login token: expired');
  }
}

/** A spent persistent-login token was presented again: its family and the sessions it created were revoked. */
export class LoginTokenReusedError extends SessionManagerError {
  readonly reason = 'LOGIN_TOKEN_REUSED';
  constructor() {
    super('login token: already used; every token and session of its family was revoked');
  }
}

/** A persistent-login token presented from another device than it was issued to. */
export class LoginTokenDeviceMismatchError extends SessionManagerError {
  readonly reason = 'LOGIN_TOKEN_DEVICE_MISMATCH';
  constructor() {
    super('login token: issued to another device', { field: 'device_id' });
  }
}

/** A persistent login asked for on a client type for which session.persistent.types does not allow it. */
export class PersistentLoginNotAllowedError extends SessionManagerError {
  readonly reason = 'PERSISTENT_LOGIN_NOT_ALLOWED';
  constructor(clientType: string) {
    super(`login token: persistent logins are off for client type ${clientType}`, { client_type: clientType });
  }
}

/** A session handle (EndMySessions SCOPE_ONE) that names none of the user's sessions at the site. */
export class SessionHandleNotFoundError extends SessionManagerError {
  readonly reason = 'SESSION_HANDLE_NOT_FOUND';
  constructor() {
    super('session: no session of yours has this handle', { field: 'handle' });
  }
}
