import assert from 'node:assert/strict';
import { hashSessionId } from '../../../src/app/ids.js';
import { CacheStaleError } from '../../../src/domain/errors.js';
import { sessionServiceOnFakes } from '../../support/fakes/session-service.js';
import { failsWith } from './reasons.js';

const MIN = 60_000;
// hits ≥ 2: out of the single-request regime, so hits are coalesced (the hot path).
const warm = { hits: 2 };
// A mobile session idles out 60 min after its last access plus its touch granularity (6 min); the
// cluster.max-clock-skew margin (5 s) later any node may end it for everyone.
const IDLE_OUT = 66 * MIN;

describe('app/sessions/validate (validate / exact validate / heartbeat on fakes)', () => {
  it('a cache hit is answered synchronously, counted, its activity recorded, with no store call', () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.clock.advance(1000);
    const r = f.svc.validateNow(id);
    assert.ok(!(r instanceof Promise), 'no promise on a hit');
    assert.equal(r.verdict, 'VALID');
    assert.equal(r.view?.rec.hits, 3);
    assert.equal(r.view?.rec.lastAccessAt, f.clock.now());
    assert.deepEqual(f.touches.pending.get(s.hash), { lastAccessAt: f.clock.now(), hits: 3 });
    assert.equal(f.svc.stats.cacheHits, 1);
    assert.equal(f.svc.stats.verdicts.VALID, 1);
    assert.deepEqual(f.emitted, ['verdict:VALID']);
    assert.deepEqual(f.store.calls, []);
  });

  const table: Array<{ name: string; advanceMs: number; client?: { ip: string; userAgent: string }; bound?: boolean; want: string; ends: boolean }> = [
    { name: 'idle past its timeout, within the clock-skew margin: EXPIRED, not ended yet', advanceMs: IDLE_OUT + 1, want: 'EXPIRED', ends: false },
    { name: 'idle past its timeout and the clock-skew margin: EXPIRED and ended in the background', advanceMs: IDLE_OUT + 5001, want: 'EXPIRED', ends: true },
    { name: 'bound to an ip, presented from another: BINDING_MISMATCH', advanceMs: 0, bound: true, client: { ip: '10.9.9.9', userAgent: 'ua' }, want: 'BINDING_MISMATCH', ends: false },
    { name: 'bound to an ip, presented from it: VALID', advanceMs: 0, bound: true, client: { ip: '10.0.0.1', userAgent: 'ua' }, want: 'VALID', ends: false },
  ];
  for (const t of table) {
    it(t.name, async () => {
      const f = sessionServiceOnFakes();
      let id: string;
      if (t.bound) {
        f.allowStore('login');
        id = (await f.svc.create({ site: 'default', user: 'u', clientType: 'mobile', deviceId: 'd', attributes: new Map(), bindIp: true, client: { ip: '10.0.0.1', userAgent: 'ua' } })).id;
        f.mirror.upsert(f.mem.bump(hashSessionId(id), warm));
        f.store.calls.length = 0;
        f.emitted.length = 0;
      } else id = f.seed('mobile', warm).id;
      if (t.ends) f.allowStore('end');
      f.clock.advance(t.advanceMs);
      const r = await f.svc.validateNow(t.client ? { sessionId: id, client: t.client } : id);
      assert.equal(r.verdict, t.want);
      await Promise.resolve();
      assert.deepEqual(f.store.calls, t.ends ? ['end'] : []);
      assert.equal(f.mem.ended.length, t.ends ? 1 : 0);
    });
  }

  it('a miss waits for the mirror once (sync) and finds a session another node just wrote', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.mirror.entries.delete(s.hash);
    f.allowSync();
    f.feed.onSync = () => f.mirror.upsert(s);
    const r = f.svc.validateNow(id);
    assert.ok(r instanceof Promise);
    assert.equal((await r).verdict, 'VALID');
    assert.equal(f.svc.stats.cacheMisses, 1);
    assert.equal(f.feed.syncs, 1);
    assert.deepEqual(f.store.calls, [], 'a miss never reads the record from the store');
  });

  it('a miss for an unknown id is NOT_FOUND; with a stale mirror the call is refused before anything', async () => {
    const f = sessionServiceOnFakes();
    f.allowSync();
    assert.equal((await f.svc.validate('A'.repeat(43))).verdict, 'NOT_FOUND');
    f.feed.stale = new CacheStaleError(9000);
    await failsWith(f.svc.validate('A'.repeat(43)), 'CACHE_STALE');
    assert.equal(f.feed.syncs, 1);
  });

  it('the site check runs on the found session before anything is counted', async () => {
    const f = sessionServiceOnFakes();
    const { id } = f.seed('mobile', warm);
    assert.throws(
      () =>
        f.svc.validateNow(id, (site) => {
          throw Object.assign(new Error(`site ${site}`), { reason: 'SITE_NOT_ALLOWED' });
        }),
      /site default/,
    );
    assert.equal(f.svc.stats.verdicts.VALID, 0);
    assert.equal(f.touches.pending.size, 0);
  });

  it('a young session (single-request regime) is validated exactly: one compare-and-swap, mirrored', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile');
    f.allowStore('update');
    const r = await f.svc.validateNow(id);
    assert.equal(r.verdict, 'VALID');
    assert.deepEqual(f.store.calls, ['update']);
    assert.equal(f.mirror.get(s.hash)?.rec.hits, 1);
  });

  it('an exact validate that loses the compare retries on the record it got back', async () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile');
    let conflicts = 1;
    f.mem.beforeWrite = (h) => void (conflicts-- > 0 && f.mem.bump(h));
    f.allowStore('update');
    assert.equal((await f.svc.validate(id)).verdict, 'VALID');
    assert.deepEqual(f.store.calls, ['update', 'update']);
    assert.equal(f.mem.sessions.get(s.hash)?.rec.hits, 1);
  });

  it('an exact validate that keeps losing gives up with CONCURRENT_UPDATE after maxExactAttempts', async () => {
    const f = sessionServiceOnFakes({ service: { maxExactAttempts: 3 } });
    const { id } = f.seed('mobile');
    f.mem.beforeWrite = (h) => void f.mem.bump(h);
    f.allowStore('update');
    await failsWith(f.svc.validate(id), 'CONCURRENT_UPDATE');
    assert.equal(f.store.calls.length, 3);
  });

  it('an exact validate whose session vanished under it is NOT_FOUND', async () => {
    const f = sessionServiceOnFakes();
    const { id } = f.seed('mobile');
    f.mem.beforeWrite = (h) => void f.mem.sessions.delete(h);
    f.allowStore('update');
    assert.equal((await f.svc.validate(id)).verdict, 'NOT_FOUND');
  });

  it('heartbeat on a hit: synchronous VALID, instance marked present, no hit counted', () => {
    const f = sessionServiceOnFakes();
    const { id, s } = f.seed('mobile', warm);
    f.clock.advance(1000);
    const v = f.svc.heartbeatNow(id, 'tab-1');
    assert.equal(v, 'VALID');
    assert.deepEqual(f.presence.heartbeats, [[s.hash, 'tab-1']]);
    assert.equal(f.touches.pending.get(s.hash)?.hits, 2);
    assert.deepEqual(f.store.calls, []);
  });

  it('heartbeat on a miss: NOT_FOUND after one sync; expired: EXPIRED without presence', async () => {
    const f = sessionServiceOnFakes();
    f.allowSync();
    assert.equal(await f.svc.heartbeat('A'.repeat(43), 'tab-1'), 'NOT_FOUND');
    const { id } = f.seed('mobile', warm);
    f.clock.advance(IDLE_OUT + 1);
    assert.equal(await f.svc.heartbeat(id, 'tab-1'), 'EXPIRED');
    assert.deepEqual(f.presence.heartbeats, []);
  });
});
