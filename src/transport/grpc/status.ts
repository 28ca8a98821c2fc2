import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { SessionManagerError } from '../../domain/errors.js';
import { Any } from '../../gen/google/protobuf/any.js';
import { ErrorInfo } from '../../gen/google/rpc/error_details.js';
import { Status } from '../../gen/google/rpc/status.js';

/** The ErrorInfo domain of every error this service reports. */
export const ERROR_DOMAIN = 'sessionmanager.v1';

/** The one table from stable error reasons to gRPC status codes (ARCHITECTURE style rule 5). */
export const REASON_TO_STATUS: Readonly<Record<string, status>> = {
  MALFORMED_SESSION_ID: status.INVALID_ARGUMENT,
  INVALID_FIELD: status.INVALID_ARGUMENT,
  UNKNOWN_CLIENT_TYPE: status.INVALID_ARGUMENT,
  SITE_NOT_FOUND: status.NOT_FOUND,
  SESSION_NOT_FOUND: status.NOT_FOUND,
  ATTRIBUTE_NOT_FOUND: status.NOT_FOUND,
  ATTRIBUTE_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  TOO_MANY_ATTRIBUTES: status.RESOURCE_EXHAUSTED,
  SESSION_LIMIT_REACHED: status.RESOURCE_EXHAUSTED,
  STORE_QUOTA_EXCEEDED: status.RESOURCE_EXHAUSTED,
  ETAG_MISMATCH: status.ABORTED,
  ATTRIBUTE_EXISTS: status.ABORTED,
  CONCURRENT_UPDATE: status.ABORTED,
  STORE_UNAVAILABLE: status.UNAVAILABLE,
  CACHE_STALE: status.UNAVAILABLE,
  NOT_SERVING: status.UNAVAILABLE,
  CLOCK_SKEW: status.UNAVAILABLE,
  RECORD_UNREADABLE: status.DATA_LOSS,
  SESSION_ACTIVE_ELSEWHERE: status.FAILED_PRECONDITION,
  USER_SESSION_LIMIT: status.RESOURCE_EXHAUSTED,
  USER_MISMATCH: status.FAILED_PRECONDITION,
  ADMIN_CREDENTIAL_REQUIRED: status.PERMISSION_DENIED,
  INVALID_PAGE_TOKEN: status.INVALID_ARGUMENT,
  INVALID_PAGE_SIZE: status.INVALID_ARGUMENT,
  INVALID_RESUME_TOKEN: status.INVALID_ARGUMENT,
  TOO_MANY_STREAMS: status.RESOURCE_EXHAUSTED,
  LOOKUP_BACKLOG_FULL: status.RESOURCE_EXHAUSTED,
  ID_MODE_DISABLED: status.FAILED_PRECONDITION,
  SESSION_EXISTS: status.ALREADY_EXISTS,
  BINDING_MISMATCH: status.PERMISSION_DENIED,
  REQUEST_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  MALFORMED_REQUEST: status.INVALID_ARGUMENT,
  CALLER_CREDENTIAL_REQUIRED: status.UNAUTHENTICATED,
  CALLER_CREDENTIAL_INVALID: status.UNAUTHENTICATED,
  METHOD_NOT_ALLOWED: status.PERMISSION_DENIED,
  SITE_NOT_ALLOWED: status.PERMISSION_DENIED,
  MALFORMED_LOGIN_TOKEN: status.INVALID_ARGUMENT,
  LOGIN_TOKEN_NOT_FOUND: status.NOT_FOUND,
  LOGIN_TOKEN_EXPIRED: status.NOT_FOUND,
  LOGIN_TOKEN_REUSED: status.FAILED_PRECONDITION,
  LOGIN_TOKEN_DEVICE_MISMATCH: status.FAILED_PRECONDITION,
  PERSISTENT_LOGIN_NOT_ALLOWED: status.FAILED_PRECONDITION,
  SESSION_HANDLE_NOT_FOUND: status.NOT_FOUND,
};

/** Reason used for errors that are not SessionManagerErrors (bugs): INTERNAL, message hidden. */
export const INTERNAL_REASON = 'INTERNAL';

/** Builds the `grpc-status-details-bin` payload: a google.rpc.Status with one ErrorInfo. */
export function statusDetails(code: status, message: string, reason: string, metadata: Record<string, string>): Buffer {
  const info = ErrorInfo.encode({ reason, domain: ERROR_DOMAIN, metadata: new Map(Object.entries(metadata)) }).finish();
  const st = Status.encode({
    code,
    message,
    details: [Any.fromPartial({ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: Buffer.from(info) })],
  }).finish();
  return Buffer.from(st);
}

/** Converts any thrown value into a gRPC ServiceError with google.rpc.Status details. */
export function toServiceError(err: unknown): ServiceError & { reason: string } {
  let code: status = status.INTERNAL;
  let message = 'internal error';
  let reason = INTERNAL_REASON;
  let metadata: Record<string, string> = {};
  if (err instanceof SessionManagerError) {
    code = REASON_TO_STATUS[err.reason] ?? status.INTERNAL;
    message = err.message;
    reason = err.reason;
    metadata = err.metadata;
  }
  const md = new Metadata();
  md.set('grpc-status-details-bin', statusDetails(code, message, reason, metadata));
  const e = Object.assign(new Error(message), { code, details: message, metadata: md, reason });
  return e;
}

/** Extracts the ErrorInfo of a gRPC error received by a client (tests, sessionctl). */
export function errorInfoOf(err: { metadata?: Metadata }): ErrorInfo | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!raw || typeof raw === 'string') return undefined;
  const st = Status.decode(raw);
  const any = st.details.find((d) => d.typeUrl.endsWith('/google.rpc.ErrorInfo'));
  return any ? ErrorInfo.decode(any.value) : undefined;
}
