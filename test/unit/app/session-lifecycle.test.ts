import assert from 'node:assert/strict';
import { generateSessionId, hashSessionId } from '../../../src/app/ids.js';
import { sessionServiceOnFakes } from '../../support/fakes/session-service.js';
import { failsWith } from './reasons.js';

const warm = { hits: 2 };

describe('app/sessions/lifecycle (end, logout, revoke on fakes)', () => {
  it('logout ends the session LOGGED_OUT with its bookkeeping: mirror, activity, presence, stats, event', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.touches.pending.set(s.hash, { lastAccessAt: 1, hits: 3 });
    f.allowStore('end');
    await f.svc.end(id);
    assert.deepEqual(f.mem.ended, [{ hash: s.hash, reason: 'LOGGED_OUT' }]);
    assert.equal(f.mirror.get(s.hash), undefined);
    assert.equal(f.touches.pending.size, 0);
    assert.deepEqual(f.presence.forgotten, [s.hash]);
    assert.equal(f.svc.stats.ended.LOGGED_OUT, 1);
    assert.deepEqual(f.emitted, ['ended:default:mobile:LOGGED_OUT']);
  });

  it('logout of an unknown id is SESSION_NOT_FOUND (after the mirror and the lineage were asked)', async () => {
    const f = sessionServiceOnFakes();
    f.allowSync();
    f.allowStore('getOrSuccessor');
    await failsWith(f.svc.end(generateSessionId()), 'SESSION_NOT_FOUND');
    assert.deepEqual(f.store.calls, ['getOrSuccessor']);
  });

  it('logout with an id a racing re-authentication just replaced follows it to the new session', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.allowStore('reauthenticate', 'getOrSuccessor', 'end');
    const moved = await f.svc.reauthenticate(id, 'alice');
    f.mirror.upsert(s); // this node's mirror has not seen the move yet
    await f.svc.end(id);
    assert.ok(!f.mem.has(moved.view.hash));
    assert.deepEqual(f.mem.ended, [{ hash: moved.view.hash, reason: 'LOGGED_OUT' }]);
  });

  it('logout with a bound ticket presented from elsewhere is BINDING_MISMATCH and ends nothing', async () => {
    const f = sessionServiceOnFakes();
    f.allowStore('login');
    const { id } = await f.svc.create({ site: 'default', user: 'u', clientType: 'mobile', deviceId: 'd', attributes: new Map(), bindIp: true, client: { ip: '10.0.0.1', userAgent: 'ua' } });
    await failsWith(f.svc.end(id, false, { ip: '10.0.0.2', userAgent: 'ua' }), 'BINDING_MISMATCH');
    assert.equal(f.mem.ended.length, 0);
  });

  it('admin revoke by reference and revoke of a user: REVOKED, counted', async () => {
    const f = sessionServiceOnFakes();
    const a = f.seed('mobile', warm);
    const b = f.seed('mobile', warm);
    const c = f.seed('api', warm, 'bob');
    f.allowStore('getOrSuccessor', 'end', 'revokeUser');
    assert.equal(await f.svc.revoke([a.s.hash, hashSessionId(generateSessionId())]), 1);
    assert.equal(await f.svc.revokeUser('default', 'alice'), 1);
    assert.deepEqual(
      f.mem.ended.map((e) => [e.hash, e.reason]),
      [
        [a.s.hash, 'REVOKED'],
        [b.s.hash, 'REVOKED'],
      ],
    );
    assert.ok(f.mem.has(c.s.hash));
    assert.equal(f.svc.stats.ended.REVOKED, 2);
  });

  it('endedSessions lists the mirrored sessions that have ended by now, for the scavenger', () => {
    const f = sessionServiceOnFakes();
    f.seed('mobile', warm);
    const old = f.seed('mobile', { ...warm, lastAccessAt: f.clock.now() - 24 * 3600_000 });
    const { items, scanned } = f.svc.endedSessions(f.clock.now());
    assert.equal(scanned, 2);
    assert.deepEqual(
      items.map((i) => [i.s.hash, i.reason]),
      [[old.s.hash, 'EXPIRED_IDLE']],
    );
  });
});

describe('app/sessions/reauth (on fakes)', () => {
  it('moves the session to a new id: same user and data, fresh window, the old id gone', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.clock.advance(1000);
    f.allowStore('reauthenticate');
    const r = await f.svc.reauthenticate(id, 'alice');
    assert.notEqual(r.id, id);
    assert.equal(r.view.hash, hashSessionId(r.id));
    assert.equal(r.view.rec.lastAccessAt, f.clock.now());
    assert.equal(f.mirror.get(s.hash), undefined);
    assert.ok(f.mirror.get(r.view.hash));
    assert.equal(f.svc.stats.ended.LOGGED_OUT, undefined, 'a move is not counted as an end');
  });

  it('another user is USER_MISMATCH; a lost compare re-reads and retries; exhaustion is CONCURRENT_UPDATE', async () => {
    const f = sessionServiceOnFakes({ service: { maxCasAttempts: 2 } });
    const { id, s } = f.seed('mobile', warm);
    await failsWith(f.svc.reauthenticate(id, 'mallory'), 'USER_MISMATCH');
    f.allowStore('reauthenticate', 'get');
    let conflicts = 1;
    f.mem.beforeWrite = (h) => void (conflicts-- > 0 && f.mem.bump(h));
    const r = await f.svc.reauthenticate(id, 'alice');
    assert.deepEqual(f.store.calls, ['reauthenticate', 'get', 'reauthenticate']);
    assert.ok(f.mem.has(r.view.hash) && !f.mem.has(s.hash));
    f.mem.beforeWrite = (h) => void f.mem.bump(h);
    await failsWith(f.svc.reauthenticate(r.id, 'alice'), 'CONCURRENT_UPDATE');
  });
});

describe('app/sessions/attach (connection CAS, presence on fakes)', () => {
  it('a connection-bound session: attach marks it attached, the last detach records when', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('desktop', warm);
    f.allowStore('setConnectionLost');
    const a = await f.svc.attach(id, 'i1');
    assert.equal(f.mem.sessions.get(s.hash)?.rec.connectionLostAt, 0);
    assert.ok(f.presence.hasConnection(s.hash));
    f.clock.advance(5000);
    await a.detach();
    await a.detach(); // a second detach is a no-op
    assert.equal(f.mem.sessions.get(s.hash)?.rec.connectionLostAt, f.clock.now());
    assert.deepEqual(f.store.calls.filter((c) => c === 'setConnectionLost'), ['setConnectionLost', 'setConnectionLost']);
  });

  it('no lost-connection write while another node still holds a connection', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('desktop', warm);
    f.allowStore('setConnectionLost');
    const a = await f.svc.attach(id, 'i1');
    f.presenceMirror.connected.set(s.hash, 'node-b');
    await a.detach();
    assert.equal(f.mem.sessions.get(s.hash)?.rec.connectionLostAt, 0);
    assert.deepEqual(f.store.calls.filter((c) => c === 'setConnectionLost'), ['setConnectionLost']);
  });

  it('a lost compare re-reads from the store and retries; a session of another type is never marked', async () => {
    const f = sessionServiceOnFakes();
    const d = f.seed('desktop', warm);
    f.allowStore('setConnectionLost');
    f.allowStore('get');
    let conflicts = 1;
    f.mem.beforeWrite = (h) => void (conflicts-- > 0 && f.mem.bump(h));
    await f.svc.attach(d.id, 'i1');
    assert.deepEqual(f.store.calls.filter((c) => c === 'setConnectionLost'), ['setConnectionLost', 'setConnectionLost']);
    assert.equal(f.mem.sessions.get(d.s.hash)?.rec.connectionLostAt, 0);
    const m = f.seed('mobile', warm);
    await f.svc.attach(m.id, 'i1');
    assert.equal(f.store.calls.filter((c) => c === 'setConnectionLost').length, 2);
  });

  it('attach of a session whose presence cannot be published is SESSION_NOT_FOUND', async () => {
    const f = sessionServiceOnFakes();
    const { id } = f.seed('desktop', warm);
    f.presence.attachOk = false;
    await failsWith(f.svc.attach(id, 'i1'), 'SESSION_NOT_FOUND');
  });
});

describe('app/sessions/attributes (on fakes)', () => {
  it('set, get and delete one attribute, each mirrored', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.allowStore('setAttribute', 'getAttribute', 'deleteAttribute');
    const etag = await f.svc.setAttribute(id, 'cart', Buffer.from('x'), {});
    assert.deepEqual(f.mirror.get(s.hash)?.rec.attributeNames, ['cart']);
    assert.equal((await f.svc.getAttribute(id, 'cart')).etag, etag);
    await failsWith(f.svc.setAttribute(id, 'cart', Buffer.from('y'), { etag: 'other' }), 'ETAG_MISMATCH');
    await f.svc.deleteAttribute(id, 'cart', { etag });
    assert.deepEqual(f.mirror.get(s.hash)?.rec.attributeNames, []);
    await failsWith(f.svc.getAttribute(id, 'cart'), 'ATTRIBUTE_NOT_FOUND');
    await failsWith(f.svc.deleteAttribute(id, 'cart', {}), 'ATTRIBUTE_NOT_FOUND');
  });

  it('TOO_MANY_ATTRIBUTES at the configured count; a lost compare retries; exhaustion is CONCURRENT_UPDATE', async () => {
    const f = sessionServiceOnFakes({ properties: 'session.attributes.max-count=1', service: { maxCasAttempts: 3 } });
    const { id } = f.seed('mobile', warm);
    f.allowStore('setAttribute');
    let conflicts = 1;
    f.mem.beforeWrite = (h) => void (conflicts-- > 0 && f.mem.bump(h));
    await f.svc.setAttribute(id, 'a', Buffer.from('1'), {});
    assert.deepEqual(f.store.calls, ['setAttribute', 'setAttribute']);
    await failsWith(f.svc.setAttribute(id, 'b', Buffer.from('2'), {}), 'TOO_MANY_ATTRIBUTES');
    f.mem.beforeWrite = (h) => void f.mem.bump(h);
    await failsWith(f.svc.setAttribute(id, 'a', Buffer.from('3'), {}), 'CONCURRENT_UPDATE');
    assert.equal(f.store.calls.length, 2 + 3);
  });

  it('a session that ended meanwhile is SESSION_NOT_FOUND', async () => {
    const f = sessionServiceOnFakes();
    const { id } = f.seed('mobile', warm);
    f.allowStore('setAttribute');
    f.mem.beforeWrite = (h) => void f.mem.sessions.delete(h);
    await failsWith(f.svc.setAttribute(id, 'a', Buffer.from('1'), {}), 'SESSION_NOT_FOUND');
  });
});
