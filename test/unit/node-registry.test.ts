import assert from 'node:assert/strict';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import { decodeNode } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';
import { NodeRegistry, type NodeLease, type NodeLeaseSource, type NodeRegistryState } from '../../src/store/etcd/node-registry.js';
import { FakeClock } from '../support/fake-clock.js';

/** A fake etcd3 lease: grants a scripted id (or fails), records puts, and can be "lost" on demand. */
class FakeLease implements NodeLease {
  readonly puts: Array<{ key: string; value: Buffer }> = [];
  released = false;
  revoked = false;
  private lostFn: ((err: Error) => void) | undefined;

  constructor(private readonly grantResult: string | Error) {}

  on(event: 'lost', fn: (err: Error) => void): this {
    if (event !== 'lost') throw new Error(`unexpected lease.on(${String(event)})`);
    this.lostFn = fn;
    return this;
  }
  async grant(): Promise<string> {
    if (this.grantResult instanceof Error) throw this.grantResult;
    return this.grantResult;
  }
  put(key: string): { value(v: Buffer): { exec(): Promise<unknown> } } {
    return {
      value: (value: Buffer) => ({
        exec: async () => {
          this.puts.push({ key, value });
          return {};
        },
      }),
    };
  }
  release(): void {
    this.released = true;
  }
  async revoke(): Promise<unknown> {
    this.revoked = true;
    return {};
  }
  /** Simulates etcd3 reporting the lease lost. */
  lose(err: Error): void {
    if (!this.lostFn) throw new Error('lease lost before a listener was attached');
    this.lostFn(err);
  }
}

/** Hands out the scripted leases in order; any further lease() call is unexpected and throws. */
class FakeLeaseSource implements NodeLeaseSource {
  readonly ttls: number[] = [];
  constructor(private readonly leases: FakeLease[]) {}
  readonly client = {
    lease: (ttlSeconds: number, options: { autoKeepAlive: boolean }): NodeLease => {
      assert.equal(options.autoKeepAlive, true);
      const next = this.leases.shift();
      if (!next) throw new Error('unexpected lease() call');
      this.ttls.push(ttlSeconds);
      return next;
    },
  };
}

const keys = new Keys('/sm-test/');

function registry(leases: FakeLease[], clock = new FakeClock()): { r: NodeRegistry; source: FakeLeaseSource } {
  const source = new FakeLeaseSource(leases);
  const r = new NodeRegistry(source, keys, {
    nodeId: 'n1',
    ttlSeconds: 3,
    startTime: 1,
    configVersion: () => 'v1',
    clock,
    publishIntervalMs: 0,
    retryDelayMs: 1,
  });
  return { r, source };
}

/** Resolves at the next event `name` of `r`. */
function next(r: NodeRegistry, name: 'renewed' | 'stopped'): Promise<void> {
  return new Promise((resolve) => {
    const off = r.on(name, () => {
      off();
      resolve();
    });
  });
}

describe('NodeRegistry lifecycle (fake lease)', () => {
  it('starts new, registers under its lease with identity, config version and wall time', async () => {
    const lease = new FakeLease('101');
    const clock = new FakeClock(5000);
    const { r, source } = registry([lease], clock);
    const states: string[] = [];
    r.on('state', (to, from) => states.push(`${from}->${to}`));
    assert.equal(r.state, 'new');
    assert.equal(r.leaseId, '0');
    await r.start();
    assert.equal(r.state, 'registered');
    assert.equal(r.leaseId, '101');
    assert.deepEqual(source.ttls, [3]);
    assert.deepEqual(states, ['new->starting', 'starting->registered']);
    assert.equal(lease.puts.length, 1);
    assert.equal(lease.puts[0]!.key, keys.node('n1'));
    assert.deepEqual(decodeNode(lease.puts[0]!.value), { nodeId: 'n1', startTime: 1, configVersion: 'v1', wallTime: 5000 });
  });

  it('throws IllegalTransitionError when started twice or after stop', async () => {
    const { r } = registry([new FakeLease('1')]);
    await r.start();
    await assert.rejects(r.start(), IllegalTransitionError);
    await r.stop();
    await assert.rejects(r.start(), IllegalTransitionError);
  });

  it('a lost lease emits lost (not stopped), re-acquires, re-registers and emits renewed with the new id', async () => {
    const first = new FakeLease('1');
    const second = new FakeLease('2');
    const { r } = registry([first, second]);
    await r.start();
    const events: string[] = [];
    r.on('lost', (e) => events.push(`lost:${e.message}`));
    r.on('stopped', () => events.push('stopped'));
    r.on('renewed', (id) => events.push(`renewed:${id}`));
    const renewed = next(r, 'renewed');
    first.lose(new Error('keepalive failed'));
    assert.equal(r.state, 'reacquiring');
    assert.equal(r.leaseId, '0');
    await renewed;
    assert.equal(r.state, 'registered');
    assert.equal(r.leaseId, '2');
    assert.equal(second.puts.length, 1, 're-registered under the new lease');
    assert.deepEqual(events, ['lost:keepalive failed', 'renewed:2']);
  });

  it('keeps retrying while a new lease cannot be granted', async () => {
    const first = new FakeLease('1');
    const { r } = registry([first, new FakeLease(new Error('unavailable')), new FakeLease(new Error('unavailable')), new FakeLease('4')]);
    await r.start();
    const renewed = next(r, 'renewed');
    first.lose(new Error('gone'));
    await renewed;
    assert.equal(r.leaseId, '4');
    assert.equal(r.state, 'registered');
  });

  it('ignores a lost event of a lease it no longer holds', async () => {
    const first = new FakeLease('1');
    const second = new FakeLease('2');
    const { r } = registry([first, second]);
    await r.start();
    const renewed = next(r, 'renewed');
    first.lose(new Error('gone'));
    await renewed;
    let lost = 0;
    r.on('lost', () => lost++);
    first.lose(new Error('late'));
    assert.equal(lost, 0);
    assert.equal(r.state, 'registered');
  });

  it('stop revokes the lease, emits stopped once, never lost, and is idempotent', async () => {
    const lease = new FakeLease('1');
    const { r } = registry([lease]);
    await r.start();
    const events: string[] = [];
    r.on('lost', () => events.push('lost'));
    r.on('stopped', () => events.push('stopped'));
    const states: NodeRegistryState[] = [];
    r.on('state', (to) => states.push(to));
    await Promise.all([r.stop(), r.stop()]);
    await r.stop();
    assert.equal(lease.revoked, true);
    assert.equal(r.state, 'stopped');
    assert.equal(r.leaseId, '0');
    assert.deepEqual(states, ['stopping', 'stopped']);
    assert.deepEqual(events, ['stopped']);
    lease.lose(new Error('revoked'));
    assert.deepEqual(events, ['stopped'], 'a lease lost after stop is not reported');
  });

  it('stop before start goes straight to stopped without touching etcd', async () => {
    const { r } = registry([]);
    await r.stop();
    assert.equal(r.state, 'stopped');
  });

  it('abandon releases the lease without revoking it (a crash), ending in stopped', async () => {
    const lease = new FakeLease('1');
    const { r } = registry([lease]);
    await r.start();
    const stopped = next(r, 'stopped');
    r.abandon();
    await stopped;
    assert.equal(lease.released, true);
    assert.equal(lease.revoked, false);
    assert.equal(r.state, 'stopped');
    assert.equal(r.leaseId, '0');
  });

  it('refresh rewrites the registration with the current wall time; nothing while not registered', async () => {
    const lease = new FakeLease('1');
    const clock = new FakeClock(1000);
    const { r } = registry([lease], clock);
    await r.refresh();
    await r.start();
    clock.advance(500);
    await r.refresh();
    assert.equal(lease.puts.length, 2);
    assert.equal(decodeNode(lease.puts[1]!.value)?.wallTime, 1500);
  });

  it('validates its options', () => {
    const source = new FakeLeaseSource([]);
    const base = { nodeId: 'n', startTime: 0, configVersion: () => '' };
    assert.throws(() => new NodeRegistry(source, keys, { ...base, ttlSeconds: 1 }), /ttlSeconds/);
    assert.throws(() => new NodeRegistry(source, keys, { ...base, publishIntervalMs: -1 }), /publishIntervalMs/);
  });
});
