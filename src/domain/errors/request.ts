// Errors of malformed or invalid request input: ids, fields, page and resume tokens.
import { SessionManagerError } from './base.js';

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

/** A request whose bytes are not a valid message of its type. */
export class MalformedRequestError extends SessionManagerError {
  readonly reason = 'MALFORMED_REQUEST';
  constructor() {
    super('request: the message could not be decoded');
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
