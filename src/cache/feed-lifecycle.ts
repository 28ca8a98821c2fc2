import type { Transitions } from '../lifecycle/lifecycle.js';

/**
 * Lifecycle of the watch feed: 'new' → 'syncing' (first list, retried until etcd answers) → 'live'
 * (every watch created) ⇄ 'down' (the stream broke: reconnecting, relisting after a compaction)
 * → 'stopped'. Freshness is separate: a 'live' feed may still be stale (WatchFeed.isFresh).
 */
export type FeedState = 'new' | 'syncing' | 'live' | 'down' | 'stopped';

/** The feed's state table; 'stopped' is terminal. */
export const FEED_TRANSITIONS: Transitions<FeedState> = {
  new: ['syncing', 'stopped'],
  syncing: ['live', 'down', 'stopped'],
  live: ['down', 'stopped'],
  down: ['live', 'stopped'],
  stopped: [],
};

/** The feed's own events, beside state / lost / stopped. */
export interface FeedEvents {
  /** Whether reads may be served changed. */
  freshness: [fresh: boolean];
  /** The first sync failed and will be retried (etcd not reachable yet). */
  retry: [error: Error];
}

/** Counters of the feed for telemetry and tests. */
export interface FeedStats {
  relists: number;
  reconnects: number;
  eventsApplied: number;
  lastAppliedRevision: number;
}
