import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfo } from './gen/google/rpc/error_details.js';
import { Status } from './gen/google/rpc/status.js';

/** The ErrorInfo domain the server puts on every error it reports. */
export const ERROR_DOMAIN = 'sessionmanager.v1';

/**
 * Base class of every error a session-manager call rejects with: the gRPC status code, the stable
 * `reason` from the server's google.rpc.ErrorInfo (e.g. `SESSION_NOT_FOUND`, `CACHE_STALE`; the
 * status code's name when the server sent none, e.g. after a deadline) and the ErrorInfo metadata.
 */
export class SessionManagerError extends Error {
  /** gRPC status code (see `status` of @grpc/grpc-js). */
  readonly code: status;
  /** Stable, machine-readable reason; see the README's error table. */
  readonly reason: string;
  /** ErrorInfo domain; `sessionmanager.v1` when the server produced the error. */
  readonly domain: string;
  /** ErrorInfo metadata (for example the name of the invalid field). */
  readonly metadata: Readonly<Record<string, string>>;
  /** HTTP status a web framework should answer with when it lets this error through. */
  readonly statusCode: number = 500;

  constructor(message: string, code: status, reason: string, domain = '', metadata: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.reason = reason;
    this.domain = domain;
    this.metadata = metadata;
  }
}

/** INVALID_ARGUMENT: a malformed request or session id; retrying cannot help. */
export class InvalidArgumentError extends SessionManagerError {}
/** NOT_FOUND: the session, attribute or site does not exist (or no longer). */
export class NotFoundError extends SessionManagerError {}
/** ALREADY_EXISTS: the thing to create exists already. */
export class AlreadyExistsError extends SessionManagerError {}
/** ABORTED: a conditional write lost (etag mismatch, concurrent update); re-read and retry. */
export class ConflictError extends SessionManagerError {}
/** FAILED_PRECONDITION: the session is in the wrong state for the call (e.g. user mismatch). */
export class FailedPreconditionError extends SessionManagerError {}
/** RESOURCE_EXHAUSTED: a size, count or quota limit was reached. */
export class ResourceExhaustedError extends SessionManagerError {}
/** UNAUTHENTICATED: the call carried no valid caller credential. */
export class UnauthenticatedError extends SessionManagerError {}
/** PERMISSION_DENIED: the caller's credential does not allow this call. */
export class PermissionDeniedError extends SessionManagerError {}
/**
 * UNAVAILABLE or DEADLINE_EXCEEDED: no node could answer with a fresh, safe result in time (store
 * down, node fail-closed, network). Web middleware answers 503 and never treats it as valid.
 */
export class UnavailableError extends SessionManagerError {
  override readonly statusCode = 503;
}
/** CANCELLED: the caller cancelled the call. */
export class CancelledError extends SessionManagerError {}
/** Anything else (INTERNAL, DATA_LOSS, UNKNOWN…): a bug or lost data on the server side. */
export class InternalError extends SessionManagerError {}

const CLASS_OF: Partial<Record<status, new (m: string, c: status, r: string, d?: string, md?: Record<string, string>) => SessionManagerError>> = {
  [status.INVALID_ARGUMENT]: InvalidArgumentError,
  [status.OUT_OF_RANGE]: InvalidArgumentError,
  [status.NOT_FOUND]: NotFoundError,
  [status.ALREADY_EXISTS]: AlreadyExistsError,
  [status.ABORTED]: ConflictError,
  [status.FAILED_PRECONDITION]: FailedPreconditionError,
  [status.RESOURCE_EXHAUSTED]: ResourceExhaustedError,
  [status.UNAUTHENTICATED]: UnauthenticatedError,
  [status.PERMISSION_DENIED]: PermissionDeniedError,
  [status.UNAVAILABLE]: UnavailableError,
  [status.DEADLINE_EXCEEDED]: UnavailableError,
  [status.CANCELLED]: CancelledError,
};

/** Decodes the google.rpc.ErrorInfo of a gRPC error from its `grpc-status-details-bin` trailer. */
export function errorInfoOf(err: { metadata?: Metadata }): ErrorInfo | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  try {
    const st = Status.decode(raw);
    const any = st.details.find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
    return any ? ErrorInfo.decode(any.value) : undefined;
  } catch {
    return undefined;
  }
}

/** Converts a grpc-js ServiceError into the matching SessionManagerError subclass. */
export function fromServiceError(err: ServiceError): SessionManagerError {
  const info = errorInfoOf(err);
  const code = typeof err.code === 'number' ? err.code : status.UNKNOWN;
  const reason = info?.reason || status[code] || 'UNKNOWN';
  const Cls = CLASS_OF[code] ?? InternalError;
  const e = new Cls(err.details || err.message, code, reason, info?.domain ?? '', info ? Object.fromEntries(info.metadata) : {});
  (e as { cause?: unknown }).cause = err;
  return e;
}
