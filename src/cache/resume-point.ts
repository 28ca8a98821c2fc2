import type { IWatchRequest, IWatchResponse } from 'etcd3';
import { prefixEnd } from '../store/etcd/keys.js';
import type { FeedStats } from './feed-lifecycle.js';
import type { MirrorSink } from './mirror.js';

/** One mirror's place in the watch: what it has applied, and where its watch resumes. */
export interface SinkState {
  sink: MirrorSink;
  /** Every event up to this revision has been applied to the sink (a progress notification counts: freshness only). */
  applied: number;
  /** The revision of the last event (or list) applied: advanced by the sink's own data only, never by a progress notification. */
  seen: number;
  watchId: string | undefined;
}

/** The create request of a sink's watch: from its last applied event on. */
export function createRequest(c: SinkState): IWatchRequest {
  return {
    create_request: {
      key: Buffer.from(c.sink.prefix),
      range_end: prefixEnd(c.sink.prefix),
      // Resume after the last event actually applied, never after a progress notification's
      // revision: etcd before 3.4.31 / 3.5.13 may send a notification ahead of events still
      // queued for the stream (etcd-io/etcd#15220); resuming past them would skip them for good.
      start_revision: c.seen + 1,
      progress_notify: true,
    },
  };
}

/** The highest revision up to which every sink holds every change. */
export function lowestApplied(sinks: readonly SinkState[]): number {
  return Math.min(...sinks.map((c) => c.applied));
}

/**
 * Applies a response that is neither a create, a cancel nor a compaction: events go to their sink in
 * order (advancing applied and seen); a progress notification advances `applied` only.
 */
export function applyResponse(sinks: readonly SinkState[], res: IWatchResponse, stats: FeedStats): void {
  const c = sinks.find((x) => x.watchId === String(res.watch_id));
  if (res.events.length > 0 && c) {
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (ev.type === 'Delete') c.sink.delete(ev.kv);
      else c.sink.put(ev.kv);
      if (rev > c.applied) c.applied = rev;
      if (rev > c.seen) c.seen = rev;
      stats.eventsApplied++;
    }
  } else if (res.events.length === 0 && !res.fragment) {
    // A progress notification: every watcher on the stream has every event up to this revision.
    const rev = Number(res.header.revision);
    const targets = c ? [c] : sinks;
    for (const t of targets) if (rev > t.applied) t.applied = rev;
  }
  stats.lastAppliedRevision = lowestApplied(sinks);
}
