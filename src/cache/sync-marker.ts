import { StoreQuotaExceededError } from '../domain/errors.js';
import type { EtcdGateway } from '../store/etcd/client.js';

/** What a sync by marker needs from the feed. */
export interface MarkerSteps {
  /** The periodic proof (a quorum revision read, then the watch reaching it): the fallback over quota. */
  prove(): Promise<number>;
  /** etcd answered with a quorum: a watch waiting out its backoff may reconnect now. */
  quorumSeen(): void;
  /** Resolves once the first mirror's watch has delivered an event at or past `revision`. */
  seenUpTo(revision: number): Promise<void>;
}

/**
 * Writes the sync marker and waits for its own event on the first mirror's watch (WatchFeed.sync
 * with a syncKey): the write needs a quorum, so a member cut off from its peers cannot answer, and
 * events of one watcher arrive in revision order, so every change committed before it is applied
 * once its event is (no reliance on a progress notification, see etcd-io/etcd#15220). Resolves with
 * the marker's revision.
 */
export async function syncByMarker(etcd: EtcdGateway, syncKey: string, steps: MarkerSteps): Promise<number> {
  let r;
  try {
    r = await etcd.txn({ compare: [], success: [{ request_put: { key: Buffer.from(syncKey), value: Buffer.alloc(0) } }], failure: [] }, 'sync');
  } catch (err) {
    // Over the space quota etcd refuses every put, the marker too, yet reads must go on (README:
    // reads continue over quota). Fall back to the periodic proof — a quorum revision read, then
    // the watch reaching it — which starts after this call and writes nothing (on etcd before
    // 3.4.31 / 3.5.13 it keeps the etcd-io/etcd#15220 window of a few milliseconds). Any other
    // refusal (no leader, timeout) fails the miss as before.
    if (!(err instanceof StoreQuotaExceededError)) throw err;
    return steps.prove();
  }
  const revision = Number(r.header.revision);
  steps.quorumSeen();
  await steps.seenUpTo(revision);
  return revision;
}
