// WatchFeed.sync() when etcd refuses the sync-marker write: over the space quota a miss falls back to
// the revision-read proof (reads continue over quota); any other refusal still fails the miss.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IKeyValue, IRangeRequest, IWatchRequest, IWatchResponse } from 'etcd3';
import { StoreQuotaExceededError, StoreUnavailableError } from '../../src/domain/errors.js';
import { WatchFeed } from '../../src/cache/watch-feed.js';
import type { EtcdGateway } from '../../src/store/etcd/client.js';
import type { MirrorSink } from '../../src/cache/mirror.js';
import { FakeWatchEtcd, kv } from '../support/fake-watch-etcd.js';

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

describe('WatchFeed.sync: the sync marker', () => {
  let feed: WatchFeed | undefined;
  let etcd: FakeWatchEtcd;
  beforeEach(() => {
    etcd = new FakeWatchEtcd();
    etcd.syncKey = PREFIX;
  });
  afterEach(async () => {
    await feed?.stop();
    assert.deepEqual(etcd.problems, []);
  });
  const live = async () => {
    feed = new WatchFeed(etcd.gateway, [channel, { ...channel, prefix: '/t/p/' }], { maxStalenessMs: 60_000, syncKey: PREFIX });
    await feed.start();
    await new Promise<void>((resolve) => (feed!.state === 'live' ? resolve() : feed!.on('state', (to) => to === 'live' && resolve())));
    await feed.sync(); // the proof started with the feed has settled
    etcd.calls.length = 0;
  };

  it('resolves on the marker\'s own event on the first watch, not on a progress notification past it (etcd-io/etcd#15220)', async () => {
    await live();
    etcd.markerEvents = false;
    let done: number | undefined;
    const p = feed!.sync().then((r) => (done = r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(etcd.calls, ['txn']);
    const marker = etcd.revision;
    etcd.stream.respond({ watch_id: '-1', header: { revision: String(marker + 5) } as never });
    etcd.stream.events(1, [{ type: 'Put', kv: kv('/t/p/x', 'x', marker + 1) }]);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, undefined, 'progress and other watches prove nothing for the marker');
    etcd.stream.events(0, [{ type: 'Put', kv: kv(PREFIX, '', marker) }]);
    assert.equal(await p, marker);
  });

  it('concurrent misses share marker writes that started after they called: N callers, at most two writes', async () => {
    await live();
    const results = await Promise.all(Array.from({ length: 20 }, () => feed!.sync()));
    assert.equal(etcd.calls.filter((c) => c === 'txn').length <= 2, true);
    for (const r of results) assert.equal(r >= 6, true);
    assert.equal(feed!.pendingSyncs, 0);
  });
});
