// Mirror<V>: the one informer-style mirror (list-replace at a revision, ordered put/delete, stale
// events ignored, typed listeners), and the three mirrors built on it (sessions, presence, nodes).
import assert from 'node:assert/strict';
import type { IKeyValue } from 'etcd3';
import { Mirror, type MirrorCause, type MirrorTombstoneHook } from '../../src/cache/mirror.js';
import { NodeMirror } from '../../src/cache/node-mirror.js';
import { PresenceMirror } from '../../src/cache/presence-mirror.js';
import { SessionCache } from '../../src/cache/session-cache.js';
import { parseClusterConfig } from '../../src/config/schema.js';
import { sessionPolicyFor } from '../../src/domain/policy.js';
import { newSessionRecord } from '../../src/domain/session.js';
import { encodeNode, encodePresence, encodeSession } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';
import { FakeClock } from '../support/fake-clock.js';
import { kv } from '../support/fake-watch-etcd.js';

/** A plain mirror of '/m/': value = the value's text, '!' cannot be decoded, '' is skipped. */
function textMirror(tombstones?: MirrorTombstoneHook<{ text: string; version: number }>) {
  const unreadable: string[] = [];
  const m = new Mirror<{ text: string; version: number }>({
    prefix: '/m/',
    idOf: (key) => {
      const k = key.toString();
      return k.length > 3 ? k.slice(3) : undefined;
    },
    decode: (_id, kv) => {
      const text = kv.value.toString();
      if (text === '!') throw new Error('garbage');
      return text === '' ? undefined : { text, version: Number(kv.mod_revision) };
    },
    versionOf: (v) => v.version,
    onUnreadable: (id) => unreadable.push(id),
    ...(tombstones ? { tombstones } : {}),
  });
  const events: string[] = [];
  const cause = (c: MirrorCause) => (c === 'watch' ? '' : `(${c})`);
  m.on('add', (id, v, c) => events.push(`add ${id}=${v.text}${cause(c)}`));
  m.on('update', (id, v, old, c) => events.push(`update ${id}=${old.text}->${v.text}${cause(c)}`));
  m.on('delete', (id, old, c) => events.push(`delete ${id}=${old.text}${cause(c)}`));
  m.on('replaced', (r) => events.push(`replaced@${r}`));
  const texts = () => Object.fromEntries([...m.ids()].map((id) => [id, m.get(id)!.text]));
  return { m, events, texts, unreadable };
}

describe('Mirror<V>', () => {
  it('replaces at a revision: adds, updates (version changed only), deletes, then replaced; revision is the list revision', () => {
    const { m, events, texts } = textMirror();
    m.replaceAll([kv('/m/a', 'A', 3), kv('/m/b', 'B', 4)], 10);
    assert.equal(m.revision, 10);
    m.replaceAll([kv('/m/b', 'B', 4), kv('/m/c', 'C2', 12), kv('/m/a', 'A2', 11)], 20);
    assert.deepEqual(texts(), { b: 'B', c: 'C2', a: 'A2' });
    assert.equal(m.revision, 20);
    assert.deepEqual(events, ['add a=A(list)', 'add b=B(list)', 'replaced@10', 'add c=C2(list)', 'update a=A->A2(list)', 'replaced@20']);
    m.replaceAll([], 30);
    assert.deepEqual(events.slice(6), ['delete b=B(list)', 'delete c=C2(list)', 'delete a=A2(list)', 'replaced@30']);
    assert.equal(m.size, 0);
  });

  it('streams a list: pages are decoded as they come, nothing is applied before commit, a failed list applies nothing', () => {
    const { m, events, texts } = textMirror();
    m.replaceAll([kv('/m/old', 'O', 2)], 5);
    const listing = m.beginList();
    listing.add([kv('/m/a', 'A', 6)]);
    listing.add([kv('/m/b', 'B', 7), kv('/m/', 'marker', 8)]);
    assert.deepEqual(texts(), { old: 'O' }, 'nothing applied yet');
    listing.commit(9);
    assert.deepEqual(texts(), { a: 'A', b: 'B' });
    assert.equal(m.revision, 9);
    m.beginList().add([kv('/m/x', 'X', 10)]); // never committed: the relist failed
    assert.deepEqual(texts(), { a: 'A', b: 'B' });
    assert.deepEqual(events.slice(-4), ['delete old=O(list)', 'add a=A(list)', 'add b=B(list)', 'replaced@9']);
  });

  it('applies puts and deletes in revision order, and the revision follows them', () => {
    const { m, events, texts } = textMirror();
    m.replaceAll([], 1);
    m.put(kv('/m/a', 'A', 2));
    m.put(kv('/m/a', 'A3', 3));
    m.put(kv('/m/b', 'B', 4));
    m.delete(kv('/m/a', '', 5));
    assert.deepEqual(texts(), { b: 'B' });
    assert.equal(m.revision, 5);
    assert.deepEqual(events.slice(1), ['add a=A', 'update a=A->A3', 'add b=B', 'delete a=A3']);
  });

  it('ignores stale events: at or below the held version, or at or below the last list revision', () => {
    const { m, events, texts } = textMirror();
    m.replaceAll([kv('/m/a', 'A', 8)], 10);
    m.put(kv('/m/b', 'B-old', 9)); // below the list: the list already reflects it
    m.delete(kv('/m/a', '', 10)); // at the list revision
    m.put(kv('/m/a', 'A12', 12));
    m.put(kv('/m/a', 'A11', 11)); // older than held
    m.put(kv('/m/a', 'A12bis', 12)); // same version
    m.delete(kv('/m/a', '', 12)); // a delete at the held version cannot be of it
    assert.deepEqual(texts(), { a: 'A12' });
    assert.deepEqual(events, ['add a=A(list)', 'replaced@10', 'update a=A->A12']);
    assert.equal(m.set('a', { text: 'local', version: 12 }), false, 'a local value no newer than held is refused');
    assert.equal(m.set('a', { text: 'local', version: 13 }), true);
  });

  it('skips keys that are not records and values decode skips; reports undecodable ones unreadable until a readable one arrives', () => {
    const { m, events, texts, unreadable } = textMirror();
    m.replaceAll([kv('/m/a', 'A', 2)], 3);
    m.put(kv('/m/', 'marker', 4));
    m.put(kv('/m/a', '', 5)); // skipped: the held value stays
    assert.deepEqual(texts(), { a: 'A' });
    m.put(kv('/m/a', '!', 6));
    assert.equal(m.get('a'), undefined);
    assert.equal(m.isUnreadable('a'), true);
    assert.deepEqual(unreadable, ['a']);
    m.put(kv('/m/a', 'A7', 7));
    assert.equal(m.isUnreadable('a'), false);
    assert.deepEqual(events.slice(2), ['delete a=A', 'add a=A7']);
  });

  it('listeners unsubscribe; delete listeners hear deletes, relist vanishing, unreadable values and burials', () => {
    const marks: string[] = [];
    const upTo = new Map<string, number>();
    const hook: MirrorTombstoneHook<{ text: string; version: number }> = {
      mark: (id, n) => (marks.push(`${id}<=${n}`), upTo.set(id, n)),
      buries: (id, v) => v.version <= (upTo.get(id) ?? 0),
    };
    const { m } = textMirror(hook);
    const gone: string[] = [];
    const off = m.on('delete', (id, _old, cause) => gone.push(`${id}:${cause}`));
    m.replaceAll([kv('/m/a', 'A', 1), kv('/m/b', 'B', 1), kv('/m/c', 'C', 1), kv('/m/d', 'D', 1)], 1);
    m.delete(kv('/m/a', '', 2));
    m.put(kv('/m/b', '!', 3));
    m.bury('c', 1);
    m.replaceAll([], 4);
    off();
    m.put(kv('/m/e', 'E', 5));
    m.delete(kv('/m/e', '', 6));
    assert.deepEqual(gone, ['a:watch', 'b:watch', 'c:local', 'd:list']);
    assert.deepEqual(marks, ['a<=1', 'c<=1', 'd<=4', 'e<=5'], 'tombstones hear every delete, relist vanishing at the list revision');
  });

  it('bury needs tombstones', () => {
    assert.throws(() => textMirror().m.bury('a', 1), /tombstones/);
  });
});

describe('the three mirrors honour the revision of a relist', () => {
  const keys = new Keys('/t/');

  it('sessions: an event at or below the list revision is ignored; a held newer version wins', () => {
    const parsed = parseClusterConfig('');
    if (!parsed.ok) throw new Error('default config');
    const rec = newSessionRecord({ site: 's', user: 'u', clientType: 'mobile', deviceId: 'd', policy: sessionPolicyFor(parsed.policy, 'mobile'), attributeNames: [], now: 0 });
    const value = encodeSession(rec);
    const cache = new SessionCache({ keys, tombstoneRetentionMs: 1000, now: () => 0 });
    cache.mirror.replaceAll([kv(keys.session('h1'), value, 8, 8)], 10);
    cache.mirror.put(kv(keys.session('h2'), value, 9, 9));
    assert.equal(cache.get('h2'), undefined);
    cache.mirror.put(kv(keys.session('h1'), value, 12, 8));
    cache.mirror.put(kv(keys.session('h1'), value, 11, 8));
    assert.equal(cache.get('h1')?.version, 12);
    cache.mirror.put(kv(keys.syncMarker(), '', 13));
    assert.equal(cache.size, 1, 'the sync marker is no session');
    cache.mirror.delete(kv(keys.session('h1'), '', 14));
    assert.equal(cache.size, 0);
    assert.equal(cache.upsert({ ...cache.mirror.get('h1') ?? { hash: 'h1', rec, storeTag: '0' }, version: 13, incarnation: 8 }), false, 'buried by the delete');
  });

  it('presence: stale events are ignored, connection loss is dated, a relist dates the first sync', () => {
    const clock = new FakeClock(1000);
    const p = new PresenceMirror(keys, clock);
    assert.equal(p.lostSince('h'), 0);
    p.mirror.replaceAll([kv(keys.presenceKey('h', 'n1'), encodePresence('n', 1, 0), 5)], 10);
    assert.equal(p.hasConnection('h'), true);
    clock.advance(50);
    p.mirror.delete(kv(keys.presenceKey('h', 'n1'), '', 9)); // older than the list
    assert.equal(p.hasConnection('h'), true);
    p.mirror.put(kv(keys.presenceKey('h', 'n2'), encodePresence('n', 1, 1), 11));
    assert.equal(p.hasConnectionElsewhere('h', 'n1'), true);
    p.mirror.put(kv(keys.presenceKey('h', 'n2'), encodePresence('n', 0, 0), 10)); // stale
    assert.equal(p.hasConnectionElsewhere('h', 'n1'), true);
    p.mirror.replaceAll([kv(keys.presenceKey('h', 'n2'), encodePresence('n', 0, 1), 12)], 20);
    assert.equal(p.hasConnection('h'), false);
    assert.equal(p.hasPresence('h'), true);
    assert.equal(p.lostSince('h'), 1050);
    assert.equal(p.lostSince('other'), 1000, 'unknown sessions: since the first sync');
  });

  it('nodes: list sorted by id, stale events ignored, an undecodable registration keeps what was held', () => {
    const n = new NodeMirror(keys.nodes());
    n.mirror.replaceAll([kv(keys.node('b'), encodeNode('b', 1, 'v1'), 3), kv(keys.node('a'), encodeNode('a', 1, 'v1'), 4)], 10);
    assert.deepEqual(n.list().map((x) => x.nodeId), ['a', 'b']);
    n.mirror.delete(kv(keys.node('a'), '', 10));
    n.mirror.put(kv(keys.node('b'), encodeNode('b', 1, 'v2'), 11));
    n.mirror.put(kv(keys.node('b'), encodeNode('b', 1, 'v0'), 5));
    n.mirror.put(kv(keys.node('b'), Buffer.from([0xff, 0xff, 0xff]), 12));
    assert.deepEqual(n.list().map((x) => `${x.nodeId}:${x.configVersion}`), ['a:v1', 'b:v2']);
  });
});

describe('the tombstone hook is consulted on every path in', () => {
  it('a relist and a local set both refuse a buried value', () => {
    const hook: MirrorTombstoneHook<{ text: string; version: number }> = { mark: () => {}, buries: (id) => id === 'dead' };
    const { m, texts } = textMirror(hook);
    m.replaceAll([kv('/m/dead', 'D', 1), kv('/m/live', 'L', 1)] as IKeyValue[], 2);
    assert.deepEqual(texts(), { live: 'L' });
    assert.equal(m.set('dead', { text: 'D', version: 3 }), false);
    m.put(kv('/m/dead', 'D', 4));
    assert.deepEqual(texts(), { live: 'L' });
  });
});
