// @session-manager/client: the typed client of session-manager for the services that call it.
// Web framework helpers live in the subpaths `./express`, `./fastify` and `./express-session`.
export { SessionClient, DEFAULT_DEADLINE_MS, type CreateSessionInput, type CreatedSession, type MySessionsScope } from './session-client.js';
export { AdminClient } from './admin-client.js';
export type { ClientOptions, CallOptions, SessionCallOptions } from './options.js';
export { targetOf, serviceConfig, channelOptions, RETRYABLE_METHODS, SESSION_SERVICE, ADMIN_SERVICE, type RetryOptions, type KeepaliveOptions } from './channel.js';
export { channelCredentials, tokenReader, bearerInterceptor, type TlsOptions, type TokenSource } from './credentials.js';
export {
  SessionManagerError,
  InvalidArgumentError,
  NotFoundError,
  AlreadyExistsError,
  ConflictError,
  FailedPreconditionError,
  ResourceExhaustedError,
  UnauthenticatedError,
  PermissionDeniedError,
  UnavailableError,
  CancelledError,
  InternalError,
  ERROR_DOMAIN,
  errorInfoOf,
  fromServiceError,
} from './errors.js';
export { verdictName, type ValidateResult, type HeartbeatResult, type InvalidVerdictName } from './verdict.js';
export { ClientType, SessionState, EndReason, type Session, type SessionPolicy, type Attribute } from './gen/sessionmanager/v1/session.js';
export { Verdict, IdMode, EndMySessionsRequest_Scope, type ClientInfo, type MySession } from './gen/sessionmanager/v1/session_service.js';
export { EventType, LoginEvent, type AdminSession, type GetClusterStatusResponse, type ListSessionsResponse, type WatchEventsResponse, type NodeInfo, type SessionCount } from './gen/sessionmanager/v1/admin_service.js';
export type { Duration } from './gen/google/protobuf/duration.js';
export { readCookie, sessionCookie, clearedCookie, DEFAULT_COOKIE_NAME, type CookieOptions } from './cookies.js';
