// WatchFeed resumes after the last event it applied, never after a progress notification's revision:
// etcd before 3.4.31 / 3.5.13 may send a notification ahead of events still queued for the stream
// (etcd-io/etcd#15220), and a watch that broke right after would otherwise skip them for good.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IKeyValue, IWatchRequest, IWatchResponse } from 'etcd3';
import { WatchFeed } from '../../src/cache/watch-feed.js';
import type { MirrorSink } from '../../src/cache/mirror.js';
import type { EtcdGateway } from '../../src/store/etcd/client.js';
import { FakeWatchEtcd, kv } from '../support/fake-watch-etcd.js';

type FakeStream = EventEmitter & { write(r: IWatchRequest): void; cancel(): void };

describe('WatchFeed: resume point', () => {
  let feed: WatchFeed | undefined;
  afterEach(() => feed?.stop());

  it('a progress notification ahead of queued events does not move the resume point past them', async () => {
    const starts: number[] = [];
    const streams: FakeStream[] = [];
    const msg = (res: Partial<IWatchResponse>): IWatchResponse =>
      ({ header: { revision: '5' }, watch_id: '0', created: false, canceled: false, compact_revision: '0', events: [], fragment: false, ...res }) as IWatchResponse;
    const gateway = {
      range: async () => ({ header: { revision: '5' }, kvs: [] as IKeyValue[], more: false, count: '0' }),
      txn: async () => ({ header: { revision: '5' }, succeeded: true, responses: [] }),
      openWatch: async () => {
        const s = new EventEmitter() as FakeStream;
        s.write = (r) => {
          if (r.create_request) {
            starts.push(Number(r.create_request.start_revision));
            setImmediate(() => s.emit('data', msg({ created: true })));
          }
        };
        s.cancel = () => {};
        streams.push(s);
        return s;
      },
    } as unknown as EtcdGateway;
    const channel: MirrorSink = { prefix: '/t/s/', beginList: () => ({ add: () => {}, commit: () => {} }), put: () => {}, delete: () => {} };
    feed = new WatchFeed(gateway, [channel], { maxStalenessMs: 60_000, backoff: { initialMs: 1, maxMs: 1 } });
    const live = () => new Promise<void>((resolve) => (feed!.state === 'live' ? resolve() : feed!.on('state', (to) => to === 'live' && resolve())));
    await feed.start();
    await live();
    const first = streams[0]!;
    // One event at 6 applied, then a notification saying 42 while events 7..42 are still queued; the stream breaks.
    first.emit('data', msg({ events: [{ type: 'Put', kv: { key: Buffer.from('/t/s/a'), value: Buffer.alloc(0), mod_revision: '6', create_revision: '6', version: '1', lease: '0' } }] as never }));
    first.emit('data', msg({ header: { revision: '42' } as never, watch_id: '-1' }));
    first.emit('error', new Error('leader killed'));
    await live(); // re-watched
    assert.deepEqual(starts, [6, 7]);
  });
});

describe('WatchFeed: resume point per mirror', () => {
  let feed: WatchFeed | undefined;
  afterEach(() => feed?.stop());

  it('each mirror re-watches after its own last applied event; a relist moves every resume point to the list revision', async () => {
    const etcd = new FakeWatchEtcd();
    const sink = (prefix: string): MirrorSink => ({ prefix, beginList: () => ({ add: () => {}, commit: () => {} }), put: () => {}, delete: () => {} });
    feed = new WatchFeed(etcd.gateway, [sink('/t/s/'), sink('/t/p/')], { maxStalenessMs: 60_000, backoff: { initialMs: 1, maxMs: 1 } });
    const live = () => new Promise<void>((resolve) => (feed!.state === 'live' ? resolve() : feed!.on('state', (to) => to === 'live' && resolve())));
    await feed.start();
    await live();
    etcd.stream.events(1, [{ type: 'Put', kv: kv('/t/p/a', 'x', 9) }]);
    etcd.stream.respond({ watch_id: '-1', header: { revision: '30' } as never });
    assert.equal(feed.revision, 30, 'a progress notification counts for freshness');
    etcd.stream.emit('error', new Error('cut'));
    await live();
    assert.deepEqual(etcd.stream.starts, [6, 10]);
    etcd.revision = 50;
    etcd.stream.respond({ compact_revision: '40' });
    await live();
    assert.deepEqual(etcd.stream.starts, [51, 51]);
    assert.deepEqual(etcd.problems, []);
  });
});
