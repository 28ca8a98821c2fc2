// WatchFeed on a strict fake etcd: the lifecycle contract (new → syncing → live ⇄ down → stopped,
// lost distinct from stopped), the freshness proof on an injected monotonic clock, relists and the
// mirrors it feeds. No sleeps: tests wait for the feed's own events.
import assert from 'node:assert/strict';
import { NodeMirror } from '../../src/cache/node-mirror.js';
import { PresenceMirror } from '../../src/cache/presence-mirror.js';
import { SessionCache } from '../../src/cache/session-cache.js';
import type { FeedState } from '../../src/cache/feed-lifecycle.js';
import { WatchFeed } from '../../src/cache/watch-feed.js';
import type { WatchFeedOptions } from '../../src/cache/watch-feed-options.js';
import type { MirrorSink } from '../../src/cache/mirror.js';
import { CacheStaleError, NotServingError, StoreUnavailableError } from '../../src/domain/errors.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import { encodeNode, encodePresence } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeWatchEtcd, kv } from '../support/fake-watch-etcd.js';

const PREFIX = '/t/s/';
const sink = (prefix = PREFIX): MirrorSink => ({ prefix, beginList: () => ({ add: () => {}, commit: () => {} }), put: () => {}, delete: () => {} });

/** Resolves when the feed reaches `state` (at once if it is there). */
function reaches(feed: WatchFeed, state: FeedState): Promise<void> {
  if (feed.state === state) return Promise.resolve();
  return new Promise((resolve) => {
    const off = feed.on('state', (to) => {
      if (to === state) {
        off();
        resolve();
      }
    });
  });
}

describe('WatchFeed: lifecycle contract', () => {
  let etcd: FakeWatchEtcd;
  let feed: WatchFeed | undefined;
  let clock: FakeClock;
  const make = (sinks: MirrorSink[] = [sink()], o: Partial<WatchFeedOptions> = {}) =>
    (feed = new WatchFeed(etcd.gateway, sinks, { maxStalenessMs: 60_000, backoff: { initialMs: 1, maxMs: 1 }, monotonic: clock, ...o }));
  beforeEach(() => {
    etcd = new FakeWatchEtcd();
    clock = new FakeClock(0);
  });
  afterEach(async () => {
    await feed?.stop();
    feed = undefined;
    assert.deepEqual(etcd.problems, [], 'the fake etcd saw no unexpected call');
  });

  it('starts new, syncs, goes live; a second start throws IllegalTransitionError', async () => {
    const f = make();
    const seen: string[] = [];
    f.on('state', (to, from) => seen.push(`${from}->${to}`));
    assert.equal(f.state, 'new');
    assert.throws(() => f.assertFresh(), NotServingError, 'never synced: not fresh');
    await f.start();
    await reaches(f, 'live');
    assert.deepEqual(seen, ['new->syncing', 'syncing->live']);
    assert.deepEqual(etcd.calls.slice(0, 3), [`list:${PREFIX}@5`, 'watch', 'revision']);
    assert.deepEqual(etcd.stream.starts, [6], 'watches from the list revision + 1');
    await assert.rejects(f.start(), IllegalTransitionError);
  });

  it('a broken stream while live emits lost and goes down, then resumes live; stop emits stopped and never lost', async () => {
    const f = make();
    const events: string[] = [];
    f.on('lost', (e) => events.push(`lost:${e.message}`));
    f.on('stopped', () => events.push('stopped'));
    f.on('state', (to) => events.push(to));
    await f.start();
    await reaches(f, 'live');
    etcd.stream.emit('error', new Error('leader killed'));
    assert.equal(f.state, 'down');
    await reaches(f, 'live');
    assert.equal(f.stats.reconnects, 1);
    assert.equal(etcd.streams[0]!.canceled, true, 'the broken stream was closed');
    etcd.watchAllowed = false; // nothing may reconnect after stop
    await f.stop();
    await f.stop();
    assert.equal(f.state, 'stopped');
    assert.deepEqual(events, ['syncing', 'live', 'lost:leader killed', 'down', 'live', 'stopped', 'stopped']);
    assert.equal(etcd.streams[1]!.canceled, true);
    await assert.rejects(f.sync(), NotServingError);
    assert.throws(() => f.assertFresh(), NotServingError);
  });

  it('a stream that breaks before it was live goes down without lost; stop while down cancels the reconnect', async () => {
    etcd.ackCreates = false;
    const f = make([sink()], { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const lost: Error[] = [];
    f.on('lost', (e) => lost.push(e));
    await f.start();
    assert.equal(f.state, 'syncing');
    etcd.stream.emit('end');
    assert.equal(f.state, 'down');
    assert.deepEqual(lost, []);
    etcd.watchAllowed = false;
    await f.stop();
    assert.equal(f.state, 'stopped');
  });

  it('keeps retrying the first sync while etcd is unreachable; stop while syncing rejects start', async () => {
    etcd.rangeError = new StoreUnavailableError('no etcd');
    const f = make();
    const retries: string[] = [];
    f.on('retry', (e) => {
      retries.push(e.message);
      if (retries.length === 2) void f.stop();
    });
    await assert.rejects(f.start(), NotServingError);
    assert.equal(retries.length, 2);
    assert.equal(f.state, 'stopped');
    assert.deepEqual(etcd.streams, [], 'never watched');
  });

  it('a compaction relists every mirror at one revision and re-watches from there', async () => {
    const f = make([sink(PREFIX), sink('/t/p/')]);
    await f.start();
    await reaches(f, 'live');
    etcd.revision = 40;
    etcd.stream.respond({ compact_revision: '30' });
    assert.equal(f.state, 'down');
    await reaches(f, 'live');
    assert.equal(f.stats.relists, 2);
    assert.deepEqual(etcd.calls.filter((c) => c.startsWith('list')).slice(2), [`list:${PREFIX}@40`, 'list:/t/p/@40']);
    assert.deepEqual(etcd.stream.starts, [41, 41]);
    assert.equal(f.revision, 40);
  });

  it('freshness is proven by a quorum read and the watch reaching it, never by a progress notification alone', async () => {
    const f = make();
    const verdicts: boolean[] = [];
    f.on('freshness', (fresh) => verdicts.push(fresh));
    await f.start();
    await reaches(f, 'live');
    assert.equal(f.isFresh(), true, 'the list proved it');
    assert.equal(await f.sync(), 5, 'the proof started with the feed has settled');
    clock.advance(60_001);
    assert.equal(f.isFresh(), false);
    assert.throws(() => f.assertFresh(), CacheStaleError);
    etcd.stream.respond({ watch_id: '-1', header: { revision: '99' } as never });
    assert.equal(f.isFresh(), false, 'a progress notification proves nothing');
    etcd.revision = 120;
    const sentAt = clock.now();
    assert.equal(await f.sync(), 120, 'without a sync key, sync() is a proof');
    assert.equal(etcd.stream.progressRequests >= 1, true);
    assert.equal(f.revision, 120);
    assert.equal(f.stalenessMs(), clock.now() - sentAt);
    assert.equal(f.isFresh(), true);
    assert.deepEqual(verdicts, [true]);
  });

  it('a proof that the watch does not reach in time rejects with CacheStaleError', async () => {
    const f = make([sink()], { proofTimeoutMs: 1 });
    await f.start();
    await reaches(f, 'live');
    etcd.autoProgress = false;
    etcd.revision = 50;
    await assert.rejects(f.sync(), CacheStaleError);
  });

  it('a quorum answer while down reconnects at once instead of waiting out the backoff', async () => {
    const f = make([sink()], { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    await f.start();
    await reaches(f, 'live');
    etcd.stream.emit('error', new Error('cut'));
    assert.equal(f.state, 'down');
    etcd.revision = 7;
    assert.equal(await f.sync(), 7);
    assert.equal(f.state, 'live');
    assert.equal(etcd.streams.length, 2);
  });

  it('feeds the mirrors: one list at one revision, then events to the mirror of their watch', async () => {
    const keys = new Keys('/t/');
    const cache = new SessionCache({ keys });
    const presence = new PresenceMirror(keys, new FakeClock());
    const nodes = new NodeMirror(keys.nodes());
    etcd.data = [kv(keys.presenceKey('h', 'n1'), encodePresence('n1', 1, 0), 3), kv(keys.node('a'), encodeNode('a', 1, 'v'), 4)];
    const f = make([cache.mirror, presence.mirror, nodes.mirror], { syncKey: keys.syncMarker() });
    await f.start();
    await reaches(f, 'live');
    assert.deepEqual(etcd.calls.filter((c) => c.startsWith('list')), ['list:/t/s/@5', 'list:/t/p/@5', 'list:/t/n/@5']);
    assert.equal(presence.hasConnection('h'), true);
    assert.deepEqual(nodes.list().map((n) => n.nodeId), ['a']);
    etcd.stream.events(1, [{ type: 'Delete', kv: kv(keys.presenceKey('h', 'n1'), '', 6) }]);
    etcd.stream.events(2, [{ type: 'Put', kv: kv(keys.node('b'), encodeNode('b', 1, 'v'), 7) }]);
    assert.equal(presence.hasConnection('h'), false);
    assert.deepEqual(nodes.list().map((n) => n.nodeId), ['a', 'b']);
    assert.equal(f.stats.eventsApplied, 2);
    etcd.syncKey = keys.syncMarker();
    etcd.revision = 7;
    assert.equal(await f.sync(), 8, 'the marker event on the session watch proves the sync');
    assert.equal(cache.size, 0, 'the marker is no session');
  });
});
