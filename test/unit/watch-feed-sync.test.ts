// WatchFeed.sync() when etcd refuses the sync-marker write: over the space quota a miss falls back to
// the revision-read proof (reads continue over quota); any other refusal still fails the miss.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IKeyValue, IRangeRequest, IWatchRequest, IWatchResponse } from 'etcd3';
import { StoreQuotaExceededError, StoreUnavailableError } from '../../src/domain/errors.js';
import { WatchFeed } from '../../src/cache/watch-feed.js';
import type { EtcdGateway } from '../../src/store/etcd/client.js';
import type { MirrorSink } from '../../src/cache/mirror.js';

const PREFIX = '/t/s/';

/** An etcd at a fixed revision that holds no keys, answers watch creates and progress requests, and refuses the marker put with `txnError`. */
function fakeEtcd(txnError: Error) {
  const revision = 42;
  const calls: string[] = [];
  const header = { revision: String(revision) };
  const respond = (stream: EventEmitter, res: Partial<IWatchResponse>) =>
    setImmediate(() => stream.emit('data', { header, watch_id: '0', created: false, canceled: false, compact_revision: '0', events: [], fragment: false, ...res }));
  const gateway = {
    range: async (req: IRangeRequest, op: string) => {
      calls.push(`range:${op}${req.count_only ? ':count' : ''}`);
      return { header, kvs: [] as IKeyValue[], more: false, count: '0' };
    },
    txn: async () => {
      calls.push('txn');
      throw txnError;
    },
    openWatch: async () => {
      const stream = new EventEmitter() as EventEmitter & { write(r: IWatchRequest): void; cancel(): void };
      stream.write = (r: IWatchRequest) => {
        if (r.create_request) respond(stream, { created: true });
        else if (r.progress_request) {
          calls.push('progress');
          respond(stream, { watch_id: '-1' });
        } else throw new Error(`unexpected watch request ${JSON.stringify(r)}`);
      };
      stream.cancel = () => {};
      return stream;
    },
  };
  return { gateway: gateway as unknown as EtcdGateway, calls, revision };
}

const channel: MirrorSink = { prefix: PREFIX, beginList: () => ({ add: () => {}, commit: () => {} }), put: () => {}, delete: () => {} };

describe('WatchFeed.sync: the sync-marker write refused', () => {
  let feed: WatchFeed | undefined;
  afterEach(() => feed?.stop());

  it('over the space quota, proves freshness with a revision read and a progress request instead', async () => {
    const etcd = fakeEtcd(new StoreQuotaExceededError());
    feed = new WatchFeed(etcd.gateway, [channel], { maxStalenessMs: 60_000, syncKey: PREFIX });
    await feed.start();
    etcd.calls.length = 0;
    assert.equal(await feed.sync(), etcd.revision);
    assert.deepEqual(etcd.calls.slice(0, 2), ['txn', 'range:revision:count']);
  });

  it('for any other reason (no leader, timeout), fails the miss', async () => {
    const etcd = fakeEtcd(new StoreUnavailableError('no leader'));
    feed = new WatchFeed(etcd.gateway, [channel], { maxStalenessMs: 60_000, syncKey: PREFIX });
    await feed.start();
    etcd.calls.length = 0;
    await assert.rejects(feed.sync(), StoreUnavailableError);
    assert.deepEqual(etcd.calls.filter((c) => c.startsWith('range')), []);
  });
});
