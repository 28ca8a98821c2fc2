// Errors of this node's own state: a stale mirror, not serving, clock skew, and its per-node limits.
import { SessionManagerError } from './base.js';

/** The local mirror has not heard from the store for longer than `cache.max-staleness`. */
export class CacheStaleError extends SessionManagerError {
  readonly reason = 'CACHE_STALE';
  constructor(staleMs: number) {
    super(`cache: no confirmed update from etcd for ${staleMs} ms; refusing to answer from stale data`);
  }
}

/** The node has not finished its first sync or is shutting down. */
export class NotServingError extends SessionManagerError {
  readonly reason = 'NOT_SERVING';
  constructor(state: string) {
    super(`node: not serving (${state})`);
  }
}

/** This node's wall clock is further from the other nodes' than cluster.max-clock-skew: its verdicts and deadlines cannot be trusted. */
export class ClockSkewError extends SessionManagerError {
  readonly reason = 'CLOCK_SKEW';
  constructor(offsetMs: number, boundMs: number) {
    super(`node: wall clock ${offsetMs >= 0 ? 'ahead of' : 'behind'} the other nodes by ${Math.round(Math.abs(offsetMs))} ms, beyond cluster.max-clock-skew (${boundMs} ms); retry on another replica`);
  }
}

/** A streaming call beyond the node's limit of open streams. */
export class TooManyStreamsError extends SessionManagerError {
  readonly reason = 'TOO_MANY_STREAMS';
  constructor(max: number) {
    super(`node: at most ${max} open streams per node`, { max_streams: String(max) });
  }
}

/** A cache miss while the node already has its maximum of misses waiting for the mirror to catch up. */
export class LookupBacklogFullError extends SessionManagerError {
  readonly reason = 'LOOKUP_BACKLOG_FULL';
  constructor(max: number) {
    super(`node: ${max} unknown session ids are already being looked up; try again shortly`, { max_pending: String(max) });
  }
}
