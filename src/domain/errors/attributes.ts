// Errors of session attributes: missing, too large, too many, and the conditional-write conflicts.
import { SessionManagerError } from './base.js';

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
