import assert from 'node:assert/strict';
import { TouchWriter } from '../../../src/app/touch-writer.js';
import { sessionPolicyFor } from '../../../src/domain/policy.js';
import type { StoredSession } from '../../../src/domain/ports.js';
import { newSessionRecord } from '../../../src/domain/session.js';
import { FakeClock } from '../../support/fake-clock.js';
import { policyOf } from '../../support/fakes/config.js';
import { MemoryMirror } from '../../support/fakes/mirrors.js';
import { MemorySessionStore } from '../../support/fakes/session-store.js';
import { strict } from '../../support/fakes/strict.js';

const GRANULARITY = 6 * 60_000; // a mobile session's (60 min idle / 10)

function setup(options: { maxAttempts?: number } = {}) {
  const clock = new FakeClock();
  const mem = new MemorySessionStore();
  const allowed = new Set<string>();
  const store = strict('store', mem, allowed);
  const mirror = new MemoryMirror();
  const tw = new TouchWriter(store, mirror, clock, { leaseMarginMs: 1000, ...options });
  const errors: unknown[] = [];
  tw.on('write-error', (e) => errors.push(e));
  const rec = newSessionRecord({ site: 'default', user: 'u', clientType: 'mobile', deviceId: 'd', policy: sessionPolicyFor(policyOf(), 'mobile'), attributeNames: [], now: clock.now() });
  const s = mem.put('h1', { ...rec, hits: 2 });
  mirror.upsert(s);
  /** Lets the write-behind run (its writes are promise chains on the fake store). */
  const settle = () => new Promise((r) => setImmediate(r));
  return { clock, mem, store, mirror, tw, s, errors, settle, allow: (...m: string[]) => m.forEach((x) => allowed.add(x)) };
}

describe('app/touch-writer (write-behind of activity on fakes)', () => {
  it('coalesces touches within the touch granularity: kept in memory, no store call', async () => {
    const f = setup();
    for (let i = 1; i <= 5; i++) {
      f.clock.advance(1000);
      f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 2 + i });
    }
    await f.settle();
    assert.deepEqual(f.store.calls, []);
    assert.equal(f.tw.stats.coalesced, 5);
    assert.deepEqual(f.tw.activity(f.s), { lastAccessAt: f.clock.now(), hits: 7 });
    assert.equal(f.tw.backlog, 1);
  });

  it('writes once the granularity has passed, with the backstop TTL plus the margin, then forgets the entry', async () => {
    const f = setup();
    f.allow('update');
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    await f.settle();
    assert.deepEqual(f.store.calls, ['update']);
    assert.equal(f.tw.stats.written, 1);
    assert.equal(f.mirror.get('h1')?.rec.lastAccessAt, f.clock.now());
    assert.equal(f.mem.lastTtlMs, f.tw.ttlFor(f.mem.sessions.get('h1')!.rec));
    assert.ok(f.mem.lastTtlMs > 60 * 60_000 + 1000 - 1);
    assert.equal(f.tw.backlog, 0);
  });

  it('a touch arriving while a write is in flight is written after it (one write at a time per session)', async () => {
    const f = setup();
    f.allow('update');
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 4 });
    await f.settle();
    assert.deepEqual(f.store.calls, ['update', 'update']);
    assert.equal(f.mem.sessions.get('h1')?.rec.hits, 4);
    assert.equal(f.tw.backlog, 0);
  });

  it('a lost compare is judged again on the record it got back and retried', async () => {
    const f = setup();
    f.allow('update');
    let conflicts = 1;
    f.mem.beforeWrite = (h) => void (conflicts-- > 0 && f.mem.bump(h));
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    await f.settle();
    assert.deepEqual(f.store.calls, ['update', 'update']);
    assert.equal(f.tw.stats.written, 1);
    assert.equal(f.mem.sessions.get('h1')?.rec.lastAccessAt, f.clock.now());
  });

  it('another node already wrote newer activity: the conflict ends the write without a second one', async () => {
    const f = setup();
    f.allow('update');
    f.clock.advance(GRANULARITY);
    f.mem.beforeWrite = (h) => void f.mem.bump(h, { lastAccessAt: f.clock.now() + 1, hits: 9 });
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    await f.settle();
    assert.deepEqual(f.store.calls, ['update']);
    assert.equal(f.tw.stats.written, 0);
  });

  it('compares that keep losing give up quietly after maxAttempts: no error, the activity stays pending', async () => {
    const f = setup({ maxAttempts: 2 });
    f.allow('update');
    f.mem.beforeWrite = (h) => void f.mem.bump(h);
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    await f.settle();
    assert.deepEqual(f.store.calls, ['update', 'update']);
    assert.equal(f.tw.stats.failed, 0);
    assert.deepEqual(f.errors, []);
    assert.equal(f.tw.backlog, 1);
  });

  it('a session gone from the store takes its pending activity with it', async () => {
    const f = setup();
    f.allow('update', 'get');
    f.mem.beforeWrite = (h) => void f.mem.sessions.delete(h);
    f.clock.advance(GRANULARITY);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    await f.settle();
    assert.equal(f.tw.backlog, 0);
    f.mirror.entries.delete('h1');
    f.tw.record(f.s, { lastAccessAt: f.clock.now() + 1, hits: 3 });
    assert.equal(await f.tw.flush(), 0);
    assert.deepEqual(f.store.calls, ['update', 'get']);
    assert.equal(f.tw.backlog, 0);
  });

  it('flush writes every pending activity (even within the granularity) and reports failures', async () => {
    const f = setup();
    f.clock.advance(1000);
    f.tw.record(f.s, { lastAccessAt: f.clock.now(), hits: 3 });
    f.allow('update');
    assert.equal(await f.tw.flush(), 0);
    assert.deepEqual(f.store.calls, ['update']);
    assert.equal(f.tw.backlog, 0);
    f.clock.advance(1000);
    f.tw.record(f.mirror.get('h1')!, { lastAccessAt: f.clock.now(), hits: 4 });
    f.mem.beforeWrite = () => {
      throw new Error('etcd down');
    };
    assert.equal(await f.tw.flush(), 1);
    assert.equal(f.tw.stats.failed, 1);
    assert.equal((f.errors[0] as Error).message, 'etcd down');
    assert.equal(f.tw.backlog, 1, 'kept for the next touch or flush');
  });

  it('forgets a session when it leaves the mirror', () => {
    const f = setup();
    f.tw.record(f.s, { lastAccessAt: f.clock.now() + 1, hits: 3 });
    f.mirror.forget('h1', (f.s as StoredSession).incarnation);
    assert.equal(f.tw.backlog, 0);
  });
});
