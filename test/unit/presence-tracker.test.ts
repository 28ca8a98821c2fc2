import assert from 'node:assert/strict';
import { PresenceTracker } from '../../src/app/presence.js';
import type { PresenceStore } from '../../src/domain/ports.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import { FakeClock } from '../support/fake-clock.js';

/** A presence store that records what it was asked; `failNext` makes the next publish throw. */
class FakePresenceStore implements Pick<PresenceStore, 'publish' | 'withdraw'> {
  readonly calls: string[] = [];
  failNext: Error | undefined;
  publish(hash: string, connections: number, instances: number, leaseTag: string): Promise<boolean> {
    this.calls.push(`publish ${hash} ${connections}/${instances} @${leaseTag}`);
    const err = this.failNext;
    this.failNext = undefined;
    return err ? Promise.reject(err) : Promise.resolve(true);
  }
  withdraw(hash: string): Promise<void> {
    this.calls.push(`withdraw ${hash}`);
    return Promise.resolve();
  }
}

describe('PresenceTracker (on a fake presence store)', () => {
  it('lifecycle: new → running → stopped, stopped emitted once, a second start throws', async () => {
    const t = new PresenceTracker(new FakePresenceStore(), () => '7', new FakeClock(), { graceMs: () => 1000 });
    const events: string[] = [];
    t.on('state', (to, from) => events.push(`${from}->${to}`));
    t.on('stopped', () => events.push('stopped'));
    assert.equal(t.state, 'new');
    t.start();
    assert.throws(() => t.start(), IllegalTransitionError);
    await t.stop();
    await t.stop();
    assert.deepEqual(events, ['new->running', 'running->stopped', 'stopped']);
  });

  it('publishes on transitions under the node lease, withdraws after the grace, reports publish errors as events', async () => {
    const store = new FakePresenceStore();
    const clock = new FakeClock();
    const t = new PresenceTracker(store, () => '7', clock, { graceMs: () => 1000 });
    const errors: string[] = [];
    const off = t.on('publish-error', (e) => errors.push((e as Error).message));
    assert.equal(await t.attach('h1'), true);
    t.heartbeat('h1', 'tab'); // already present: no write
    assert.equal(await t.detach('h1'), true);
    clock.advance(1001);
    t.sweep();
    assert.equal(await t.attach('h2'), true);
    store.failNext = new Error('etcd down');
    t.heartbeat('h3', 'tab');
    await new Promise<void>((r) => setImmediate(r));
    off();
    assert.deepEqual(errors, ['etcd down']);
    assert.deepEqual(store.calls, ['publish h1 1/0 @7', 'publish h1 0/1 @7', 'withdraw h1', 'publish h2 1/0 @7', 'publish h3 0/1 @7']);
  });
});
