import assert from 'node:assert/strict';
import { NextBatch } from '../../src/cache/next-batch.js';
import { SessionCache } from '../../src/cache/session-cache.js';
import { Tombstones } from '../../src/cache/tombstones.js';
import { parseClusterConfig } from '../../src/config/schema.js';
import { sessionPolicyFor } from '../../src/domain/policy.js';
import type { StoredSession } from '../../src/domain/ports.js';
import { newSessionRecord } from '../../src/domain/session.js';
import { encodeSession } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';
import { kv } from '../support/fake-watch-etcd.js';

const parsed = parseClusterConfig('');
if (!parsed.ok) throw new Error('default config');
const rec = newSessionRecord({ site: 's', user: 'u', clientType: 'mobile', deviceId: 'd', policy: sessionPolicyFor(parsed.policy, 'mobile'), attributeNames: [], now: 0 });
const stored = (hash: string, incarnation: number, version = incarnation): StoredSession => ({ hash, rec, incarnation, version, storeTag: '0' });

describe('SessionCache: a delete wins (tombstones)', () => {
  let t = 0;
  const cache = () => new SessionCache({ tombstoneRetentionMs: 1000, now: () => t });
  beforeEach(() => (t = 0));

  const table: Array<[string, (c: SessionCache) => void, StoredSession, boolean]> = [
    ['a record read before a delete the mirror never held is refused after it', (c) => c.delete('h', 10), stored('h', 5, 8), false],
    ['a record read before a delete of a held entry is refused after it', (c) => (c.upsert(stored('h', 5, 6)), c.delete('h', 10)), stored('h', 5, 8), false],
    ['a new incarnation created after the delete is accepted', (c) => c.delete('h', 10), stored('h', 12), true],
    ['an incarnation this node ended itself never comes back from a late read', (c) => (c.upsert(stored('h', 5, 6)), c.forget('h', 5)), stored('h', 5, 9), false],
    ['after forget, a later incarnation is accepted', (c) => c.forget('h', 5), stored('h', 20), true],
    ['a relist that lacks an entry buries it at the list revision', (c) => (c.upsert(stored('h', 5)), c.replaceAll(new Map(), 30)), stored('h', 5, 29), false],
    ['an older revision of a held entry is ignored', (c) => c.upsert(stored('h', 5, 9)), stored('h', 5, 7), false],
    ['a newer revision of a held entry replaces it', (c) => c.upsert(stored('h', 5, 9)), stored('h', 5, 11), true],
    ['an unrelated hash is not affected', (c) => c.delete('other', 10), stored('h', 5), true],
  ];
  for (const [name, setup, incoming, accepted] of table) {
    it(name, () => {
      const c = cache();
      setup(c);
      assert.equal(c.upsert(incoming), accepted);
      assert.equal(c.get('h') === incoming, accepted);
    });
  }

  it('tombstones are kept for the retention, then pruned in lay order', () => {
    const c = cache();
    c.delete('h1', 10);
    t = 600;
    c.delete('h2', 11);
    assert.equal(c.tombstoneCount, 2);
    t = 1200; // h1 is older than the retention now
    c.delete('h3', 12);
    assert.equal(c.tombstoneCount, 2);
    assert.equal(c.upsert(stored('h1', 5)), true, 'a pruned tombstone no longer buries');
    assert.equal(c.upsert(stored('h2', 5)), false);
  });

  it('delete listeners hear entries leaving, not tombstones of unknown hashes', () => {
    const c = cache();
    const gone: string[] = [];
    c.onDelete((h) => gone.push(h));
    c.upsert(stored('a', 1));
    c.upsert(stored('b', 2));
    c.delete('a', 5);
    c.delete('zzz', 6);
    c.replaceAll(new Map([['c', stored('c', 7)]]), 8);
    assert.deepEqual(gone, ['a', 'b']);
  });

  it('an undecodable record is reported as such until a readable one arrives', () => {
    const c = cache();
    c.upsert(stored('h', 1));
    c.markUnreadable('h');
    assert.equal(c.get('h'), undefined);
    assert.equal(c.isUnreadable('h'), true);
    c.upsert(stored('h', 1, 3));
    assert.equal(c.isUnreadable('h'), false);
  });

  it('refuses a retention that is not positive', () => {
    assert.throws(() => new Tombstones({ retentionMs: 0 }), /retentionMs/);
  });
});

describe('NextBatch: concurrent callers share an operation that started after they called', () => {
  it('N callers during one operation share the next one; callers before it got the first', async () => {
    const started: Array<() => void> = [];
    let runs = 0;
    const b = new NextBatch(() => new Promise<number>((resolve) => started.push(() => resolve(++runs))));
    const first = b.run();
    const later = Array.from({ length: 50 }, () => b.run());
    assert.equal(started.length, 1, 'one operation in flight');
    assert.equal(b.queued, 50);
    started[0]!();
    assert.equal(await first, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(started.length, 2, 'the next one started when the first settled');
    started[1]!();
    assert.deepEqual(new Set(await Promise.all(later)), new Set([2]));
    assert.equal(b.queued, 0);
  });

  it('a failed operation rejects its callers and the next batch still runs', async () => {
    let n = 0;
    const b = new NextBatch(async () => {
      n++;
      if (n === 1) throw new Error('etcd down');
      return n;
    });
    const first = b.run();
    const second = b.run();
    await assert.rejects(first, /etcd down/);
    assert.equal(await second, 2);
  });

  it('an operation that throws synchronously is a rejection, not a crash', async () => {
    const b = new NextBatch<number>(() => {
      throw new Error('sync');
    });
    await assert.rejects(b.run(), /sync/);
    await assert.rejects(b.run(), /sync/);
  });
});

describe('SessionCache over Mirror<StoredSession>: what the watch feeds', () => {
  const keys = new Keys('/t/');
  const value = encodeSession(rec);

  it('a watched delete buries the incarnation: a late read of it is refused, a later incarnation passes', () => {
    const c = new SessionCache({ keys, tombstoneRetentionMs: 1000, now: () => 0 });
    c.mirror.replaceAll([kv(keys.session('h'), value, 5, 5)], 6);
    c.mirror.delete(kv(keys.session('h'), '', 9));
    assert.equal(c.get('h'), undefined);
    assert.equal(c.upsert(stored('h', 5, 8)), false);
    c.mirror.put(kv(keys.session('h'), value, 12, 12));
    assert.equal(c.get('h')?.incarnation, 12);
  });

  it('an undecodable record is reported, marked unreadable, and its entry leaves; onDelete unsubscribes', () => {
    const reported: unknown[] = [];
    const c = new SessionCache({ keys, onUnreadable: (err) => reported.push(err) });
    const gone: string[] = [];
    const off = c.onDelete((h) => gone.push(h));
    c.mirror.put(kv(keys.session('h'), value, 3, 3));
    c.mirror.put(kv(keys.session('h'), Buffer.from([0xff, 0xff, 0xff, 0xff]), 4, 3));
    assert.equal(reported.length, 1);
    assert.equal(c.isUnreadable('h'), true);
    assert.deepEqual(gone, ['h']);
    off();
    c.mirror.put(kv(keys.session('h2'), value, 5, 5));
    c.forget('h2', 5);
    assert.deepEqual(gone, ['h']);
    assert.equal(c.size, 0);
  });

  it('keys the mirror by hash and skips the sync marker', () => {
    const c = new SessionCache({ keys });
    const listing = c.mirror.beginList();
    listing.add([kv(keys.syncMarker(), '', 2), kv(keys.session('abc'), value, 3, 3)]);
    listing.commit(4);
    assert.deepEqual([...c.values()].map((s) => s.hash), ['abc']);
    assert.equal(c.mirror.revision, 4);
  });
});
