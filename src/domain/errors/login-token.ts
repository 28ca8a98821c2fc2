// Errors of persistent logins (login tokens): malformed, unknown, expired, reused, wrong device, not allowed.
import { SessionManagerError } from './base.js';

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
