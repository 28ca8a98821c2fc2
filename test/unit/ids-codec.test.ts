import assert from 'node:assert/strict';
import { generateSessionId, hashSessionId } from '../../src/app/ids.js';
import { isWellFormedSessionId, formatSessionId } from '../../src/domain/ids.js';
import { UnreadableRecordError } from '../../src/domain/errors.js';
import { newSessionRecord } from '../../src/domain/session.js';
import { decodeAttribute, decodeSession, encodeAttribute, encodeSession } from '../../src/store/etcd/codec.js';
import { Keys, prefixEnd } from '../../src/store/etcd/keys.js';
import { SessionRecord as Pb } from '../../src/gen/sessionmanager/storage/v1/records.js';

describe('rule 13: session ids', () => {
  it('are 256 random bits, URL-safe, 43 characters, and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => generateSessionId()));
    assert.equal(ids.size, 1000);
    for (const id of ids) {
      assert.match(id, /^[A-Za-z0-9_-]{43}$/);
      assert.ok(isWellFormedSessionId(id));
    }
  });
  it('are stored only as a hash that does not contain them', () => {
    const id = generateSessionId();
    const h = hashSessionId(id);
    assert.notEqual(h, id);
    assert.ok(!h.includes(id.slice(0, 10)));
    assert.equal(h, hashSessionId(id));
  });
  it('malformed ids are rejected before any lookup', () => {
    for (const bad of ['', 'x', 'a'.repeat(44), 'a'.repeat(42) + '/', 'a'.repeat(42) + '=', '\u00e9'.repeat(43)]) {
      assert.equal(isWellFormedSessionId(bad), false, bad);
    }
    assert.throws(() => formatSessionId(new Uint8Array(16)), RangeError);
  });
});

describe('store codec', () => {
  const rec = newSessionRecord({
    site: 'site/1',
    user: 'ü',
    clientType: 'mobile',
    deviceId: 'd',
    policy: { idleMs: 60_000, singleRequestMs: 1, absoluteMs: 2, hitMax: 3, touchGranularityMs: 4, connectionGraceMs: 5 },
    attributeNames: ['a', 'b'],
    now: 1_700_000_000_000,
  });
  it('round-trips a session record', () => {
    assert.deepEqual(decodeSession(encodeSession(rec)), rec);
  });
  it('refuses unknown versions and corrupt bytes', () => {
    const future = Pb.encode({ ...Pb.decode(encodeSession(rec)), version: 2 }).finish();
    assert.throws(() => decodeSession(future), UnreadableRecordError);
    assert.throws(() => decodeSession(Buffer.from([0xff, 0xff, 0xff])), UnreadableRecordError);
  });
  it('round-trips an attribute with its etag', () => {
    const a = decodeAttribute(encodeAttribute(Buffer.from('v'), 'e1'));
    assert.equal(Buffer.from(a.value).toString(), 'v');
    assert.equal(a.etag, 'e1');
  });
});

describe('store keys', () => {
  const k = new Keys('/p/');
  it('encodes site and user so a slash cannot forge another key', () => {
    assert.equal(k.userIndex('a/b', 'c', 'h'), '/p/u/a%2Fb/c/h');
    assert.equal(k.attribute('h', 'x/y'), '/p/a/h/x%2Fy');
  });
  it('round-trips the hash of a session key', () => {
    assert.equal(k.hashOfSessionKey(k.session('abc')), 'abc');
    assert.equal(k.hashOfSessionKey('/p/a/abc'), null);
  });
  it('computes prefix range ends', () => {
    assert.equal(prefixEnd('/p/s/').toString(), '/p/s0');
  });
  it('refuses a prefix without slashes', () => {
    assert.throws(() => new Keys('p'), /prefix/);
  });
});
