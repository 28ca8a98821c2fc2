// Errors of caller authentication and authorization (SPEC rules 10 and 21).
import { SessionManagerError } from './base.js';

/** An admin call without a valid admin credential (SPEC rule 10). */
export class AdminCredentialError extends SessionManagerError {
  readonly reason = 'ADMIN_CREDENTIAL_REQUIRED';
  constructor(detail: string) {
    super(`admin: ${detail}`);
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
