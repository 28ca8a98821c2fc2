import assert from 'node:assert/strict';
import type { IKeyValue } from 'etcd3';
import { ClockSampler } from '../../src/app/clock-sampler.js';
import { NodeMirror } from '../../src/cache/node-mirror.js';
import { encodeNode } from '../../src/store/etcd/codec.js';
import { ClockOffset } from '../../src/app/clock-offset.js';
import { parseClusterConfig } from '../../src/config/schema.js';
import type { ClientType } from '../../src/domain/client-type.js';
import { sessionPolicyFor } from '../../src/domain/policy.js';
import { newSessionRecord, type EndReason, type SessionRecord } from '../../src/domain/session.js';
import { mayEndForEveryone } from '../../src/domain/skew.js';
import { FakeClock } from '../support/fake-clock.js';

const S = 1000;

function session(now: number, type: ClientType, config: string): SessionRecord {
  const r = parseClusterConfig(config);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return newSessionRecord({ site: 's', user: 'u', clientType: type, deviceId: 'd', policy: sessionPolicyFor(r.policy, type), attributeNames: [], now });
}

describe('clock skew: cluster.max-clock-skew', () => {
  it('defaults to 5 s; takes a time; refuses 0, negatives and words', () => {
    const d = parseClusterConfig('');
    assert.ok(d.ok && d.policy.maxClockSkewMs === 5 * S);
    const set = parseClusterConfig('cluster.max-clock-skew=30s');
    assert.ok(set.ok && set.policy.maxClockSkewMs === 30 * S);
    for (const bad of ['0', '-1s', 'soon']) {
      const r = parseClusterConfig(`cluster.max-clock-skew=${bad}`);
      assert.ok(!r.ok && r.errors.some((e) => e.startsWith('cluster.max-clock-skew')), bad);
    }
  });
});

describe('clock skew: ending a session for everyone waits the margin', () => {
  // web 30 s idle (granularity 3 s): deadline t0 + 33 s.
  const t0 = Date.UTC(2026, 0, 1);
  const web = session(t0, 'web', 'session.timeout.web=30s');
  const desktop = { ...session(t0, 'desktop', 'session.connection.grace=2s'), connectionLostAt: t0 };
  const cases: Array<{ name: string; rec: SessionRecord; reason: EndReason; at: number; margin: number; want: boolean }> = [
    { name: 'idle: expired, within the margin', rec: web, reason: 'EXPIRED_IDLE', at: t0 + 35 * S, margin: 30 * S, want: false },
    { name: 'idle: expired by exactly the margin', rec: web, reason: 'EXPIRED_IDLE', at: t0 + 63 * S, margin: 30 * S, want: false },
    { name: 'idle: expired past the margin', rec: web, reason: 'EXPIRED_IDLE', at: t0 + 63 * S + 1, margin: 30 * S, want: true },
    { name: 'connection lost: within grace + margin', rec: desktop, reason: 'CONNECTION_LOST', at: t0 + 6 * S, margin: 5 * S, want: false },
    { name: 'connection lost: past grace + margin', rec: desktop, reason: 'CONNECTION_LOST', at: t0 + 7 * S + 1, margin: 5 * S, want: true },
    { name: 'hit limit does not depend on time', rec: web, reason: 'HIT_LIMIT', at: t0, margin: 30 * S, want: true },
    { name: 'logout does not depend on time', rec: web, reason: 'LOGGED_OUT', at: t0, margin: 30 * S, want: true },
  ];
  for (const c of cases) it(c.name, () => assert.equal(mayEndForEveryone(c.rec, c.reason, c.at, c.margin), c.want));
});

describe('clock skew: ClockOffset', () => {
  const make = (clock: FakeClock, mono: { t: number }) => new ClockOffset(clock, { boundMs: () => 5 * S, peerTimeoutMs: 9 * S, monotonic: () => mono.t });

  it('no peers: offset 0, within the bound', () => {
    const o = make(new FakeClock(), { t: 0 });
    assert.equal(o.offsetMs, 0);
    assert.ok(o.withinBound());
  });

  it('three nodes, this one 20 s ahead: offset ≈ 20 s (delivery delay only adds)', () => {
    const clock = new FakeClock();
    const o = make(clock, { t: 0 });
    o.sample('b', clock.now() - 20 * S - 3); // b wrote at (our time − 20 s); 3 ms in transit
    o.sample('c', clock.now() - 20 * S - 5);
    assert.equal(o.offsetMs, 20 * S + 3);
    assert.ok(!o.withinBound());
  });

  it('three nodes, another one skewed: this node stays in step', () => {
    const clock = new FakeClock();
    const o = make(clock, { t: 0 });
    o.sample('b', clock.now() - 2);
    o.sample('skewed', clock.now() + 20 * S);
    assert.equal(o.offsetMs, 0);
    assert.ok(o.withinBound());
  });

  it('two nodes: each reports half the difference (cannot tell which is wrong)', () => {
    const clock = new FakeClock();
    const o = make(clock, { t: 0 });
    o.sample('b', clock.now() - 12 * S);
    assert.equal(o.offsetMs, 6 * S);
    assert.ok(!o.withinBound());
  });

  it('a peer estimate is the least delayed of its last three samples (replayed writes add delay)', () => {
    const clock = new FakeClock();
    const o = make(clock, { t: 0 });
    o.sample('b', clock.now() - 10 * S); // replayed after a reconnect: 10 s old
    o.sample('b', clock.now() - 4);
    o.sample('b', clock.now() - 7 * S);
    o.sample('c', clock.now() - 3);
    assert.equal(o.offsetMs, 3); // median of {0, b: 4, c: 3}
    // A jump of this clock 20 s ahead shows once three fresh samples replaced the old ones.
    clock.advance(20 * S);
    for (let i = 0; i < 3; i++) {
      o.sample('b', clock.now() - 20 * S);
      o.sample('c', clock.now() - 20 * S);
    }
    assert.equal(o.offsetMs, 20 * S);
  });

  it('peers not heard from within the timeout, and forgotten or unlisted peers, no longer count', () => {
    const clock = new FakeClock();
    const mono = { t: 0 };
    const o = make(clock, mono);
    o.sample('b', clock.now() - 30 * S);
    o.sample('c', clock.now() - 30 * S);
    assert.equal(o.offsetMs, 30 * S);
    mono.t += 9 * S + 1;
    assert.equal(o.peerCount, 0);
    assert.equal(o.offsetMs, 0);
    o.sample('b', clock.now() - 30 * S);
    o.sample('c', clock.now() - 30 * S);
    o.forget('b');
    o.retain(new Set(['b']));
    assert.equal(o.peerCount, 0);
    o.sample('d', 0); // writers that publish no wall time are ignored
    assert.equal(o.peerCount, 0);
  });
});

describe('clock skew: ClockSampler', () => {
  const kv = (key: string, wallTime: number, created: number, modified: number) =>
    ({ key: Buffer.from(key), value: Buffer.from(encodeNode(key, 1, 'v', wallTime)), create_revision: String(created), mod_revision: String(modified) }) as unknown as IKeyValue;

  it('samples peers on put (not itself, not a relist), asks to re-publish when a peer registers, forgets deleted and unlisted peers', () => {
    const clock = new FakeClock();
    const offset = new ClockOffset(clock, { boundMs: () => 5 * S, peerTimeoutMs: 9 * S, monotonic: () => 0 });
    const inner = new NodeMirror('/n/');
    let joined = 0;
    new ClockSampler(inner.mirror, offset, '/n/self', () => joined++);
    const ch = inner.mirror; // the watch feeds the mirror; the sampler listens
    ch.replaceAll([kv('/n/self', clock.now() - 50 * S, 1, 1), kv('/n/b', clock.now() - 50 * S, 2, 2)], 2);
    assert.equal(offset.peerCount, 0, 'a listed value is no sample: its age is unknown');
    assert.equal(inner.list().length, 2, 'the registry mirror still gets everything');
    ch.put(kv('/n/self', clock.now() - 50 * S, 1, 3));
    assert.equal(offset.peerCount, 0, 'its own key is no sample');
    ch.put(kv('/n/c', clock.now() - 7 * S, 4, 4));
    assert.equal(joined, 1, 'a new registration asks this node to re-publish');
    ch.put(kv('/n/b', clock.now() - 7 * S, 2, 5));
    assert.equal(joined, 1, 'an update of a known registration does not');
    assert.equal(offset.peerCount, 2);
    assert.equal(offset.offsetMs, 7 * S);
    ch.delete(kv('/n/c', 0, 4, 6));
    assert.equal(offset.peerCount, 1);
    ch.replaceAll([kv('/n/self', clock.now(), 1, 1)], 7);
    assert.equal(offset.peerCount, 0, 'a relist drops peers that are gone');
  });
});
