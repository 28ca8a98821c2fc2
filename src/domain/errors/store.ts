// Errors of the session store: unreachable, out of space, a write too large, an unreadable record.
import { SessionManagerError } from './base.js';

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

/** A stored record that cannot be decoded (unknown version or corrupt bytes). */
export class UnreadableRecordError extends SessionManagerError {
  readonly reason = 'RECORD_UNREADABLE';
  constructor(detail: string) {
    super(`store: unreadable record: ${detail}`);
  }
}
