import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import * as errors from '../../src/domain/errors.js';
import { errorInfoOf, REASON_TO_STATUS, toServiceError } from '../../src/transport/grpc/status.js';

describe('error model: one table from reasons to gRPC codes', () => {
  const instances: errors.SessionManagerError[] = [
    new errors.MalformedSessionIdError(),
    new errors.InvalidFieldError('user', 'empty'),
    new errors.UnknownClientTypeError('tv'),
    new errors.SiteNotFoundError('x'),
    new errors.SessionNotFoundError(),
    new errors.AttributeNotFoundError('a'),
    new errors.AttributeTooLargeError('a', 2, 1),
    new errors.TooManyAttributesError(1),
    new errors.EtagMismatchError('a'),
    new errors.AttributeExistsError('a'),
    new errors.ConcurrentUpdateError(),
    new errors.StoreUnavailableError('down'),
    new errors.StoreQuotaExceededError(),
    new errors.CacheStaleError(6000),
    new errors.NotServingError('starting'),
    new errors.ClockSkewError(20_000, 5000),
    new errors.UnreadableRecordError('x'),
    new errors.SessionLimitReachedError(1),
    new errors.SessionActiveElsewhereError(),
    new errors.UserSessionLimitError('web', 1),
    new errors.UserMismatchError(),
    new errors.AdminCredentialError('x'),
    new errors.InvalidPageTokenError(),
    new errors.InvalidPageSizeError(-1),
    new errors.InvalidResumeTokenError(),
    new errors.TooManyStreamsError(1),
    new errors.LookupBacklogFullError(1),
    new errors.IdModeDisabledError(),
    new errors.SessionExistsError(),
    new errors.RequestTooLargeError(),
    new errors.MalformedRequestError(),
    new errors.CallerCredentialRequiredError(),
    new errors.CallerCredentialInvalidError('x'),
    new errors.MethodNotAllowedError('c', 'm', 'login'),
    new errors.SiteNotAllowedError('c', 's'),
    new errors.BindingMismatchError(),
    new errors.MalformedLoginTokenError(),
    new errors.LoginTokenNotFoundError(),
    new errors.LoginTokenExpiredError(),
    new errors.LoginTokenReusedError(),
    new errors.LoginTokenDeviceMismatchError(),
    new errors.PersistentLoginNotAllowedError('api'),
    new errors.SessionHandleNotFoundError(),
  ];
  it('covers every error class', () => {
    const exported = Object.values(errors).filter(
      (v) => typeof v === 'function' && v.prototype instanceof errors.SessionManagerError,
    );
    assert.equal(instances.length, exported.length);
    for (const e of instances) assert.ok(e.reason in REASON_TO_STATUS, e.reason);
  });
  it('maps conditions to the SPEC codes', () => {
    const code = (e: errors.SessionManagerError) => toServiceError(e).code;
    assert.equal(code(new errors.MalformedSessionIdError()), status.INVALID_ARGUMENT);
    assert.equal(code(new errors.SessionNotFoundError()), status.NOT_FOUND);
    assert.equal(code(new errors.EtagMismatchError('a')), status.ABORTED);
    assert.equal(code(new errors.AttributeTooLargeError('a', 2, 1)), status.RESOURCE_EXHAUSTED);
    assert.equal(code(new errors.CacheStaleError(1)), status.UNAVAILABLE);
    assert.equal(code(new errors.SessionActiveElsewhereError()), status.FAILED_PRECONDITION);
    assert.equal(code(new errors.AdminCredentialError('x')), status.PERMISSION_DENIED);
    assert.equal(code(new errors.SessionLimitReachedError(1)), status.RESOURCE_EXHAUSTED);
    assert.equal(code(new errors.CallerCredentialRequiredError()), status.UNAUTHENTICATED);
    assert.equal(code(new errors.CallerCredentialInvalidError('x')), status.UNAUTHENTICATED);
    assert.equal(code(new errors.MethodNotAllowedError('c', 'm', 'login')), status.PERMISSION_DENIED);
    assert.equal(code(new errors.SiteNotAllowedError('c', 's')), status.PERMISSION_DENIED);
    assert.equal(code(new errors.MalformedLoginTokenError()), status.INVALID_ARGUMENT);
    assert.equal(code(new errors.LoginTokenNotFoundError()), status.NOT_FOUND);
    assert.equal(code(new errors.LoginTokenExpiredError()), status.NOT_FOUND);
    assert.equal(code(new errors.LoginTokenReusedError()), status.FAILED_PRECONDITION);
    assert.equal(code(new errors.PersistentLoginNotAllowedError('api')), status.FAILED_PRECONDITION);
  });
  it('carries google.rpc.Status with ErrorInfo reason and domain', () => {
    const e = toServiceError(new errors.SiteNotFoundError('acme'));
    const info = errorInfoOf(e);
    assert.equal(info?.reason, 'SITE_NOT_FOUND');
    assert.equal(info?.domain, 'sessionmanager.v1');
    assert.equal(info?.metadata.get('site'), 'acme');
  });
  it('hides unexpected errors as INTERNAL without their message', () => {
    const e = toServiceError(new TypeError('secret detail'));
    assert.equal(e.code, status.INTERNAL);
    assert.ok(!e.message.includes('secret'));
  });
});
