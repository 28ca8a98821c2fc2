import { EtcdLeaseInvalidError } from 'etcd3';
import { RequestTooLargeError, SessionManagerError, StoreQuotaExceededError, StoreUnavailableError } from '../../domain/errors.js';

/** LeaseGoneError reports that a lease a write relied on has expired; the caller picks a new one. */
export class LeaseGoneError extends Error {
  constructor() {
    super('store: lease not found');
    this.name = 'LeaseGoneError';
  }
}

/**
 * Translates any error from the etcd client into the service's errors: quota exhaustion, a vanished
 * lease (retryable by the caller), or "unavailable" for everything else (network, deadlines, closed
 * client, server faults). Session ids never reach these messages: keys are hashes.
 */
export function translateEtcdError(err: unknown): Error {
  if (err instanceof SessionManagerError || err instanceof LeaseGoneError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/database space exceeded|no space/i.test(message)) return new StoreQuotaExceededError();
  if (/request is too large|larger than max|message larger than/i.test(message)) return new RequestTooLargeError();
  if (err instanceof EtcdLeaseInvalidError || /requested lease not found/i.test(message)) return new LeaseGoneError();
  return new StoreUnavailableError(message.split('\n')[0]!.slice(0, 200));
}
