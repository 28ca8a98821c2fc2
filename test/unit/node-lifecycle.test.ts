import assert from 'node:assert/strict';
import type { Logger } from 'pino';
import { IllegalTransitionError, Lifecycle } from '../../src/lifecycle/lifecycle.js';
import { HealthPolicy, LIVENESS_SERVICE, READINESS_SERVICE } from '../../src/node/health.js';
import { acceptsCalls, NODE_TRANSITIONS, type NodeState } from '../../src/node/lifecycle.js';

describe('node lifecycle table', () => {
  it('runs new → starting → serving → draining → stopped; stop may begin before serving; kill from anywhere', () => {
    const l = new Lifecycle<NodeState>('node', NODE_TRANSITIONS, 'new');
    l.to('starting');
    l.to('serving');
    assert.throws(() => l.to('starting'), IllegalTransitionError);
    l.to('draining');
    assert.throws(() => l.to('serving'), IllegalTransitionError);
    l.to('stopped');
    assert.throws(() => l.to('new'), IllegalTransitionError);
    for (const s of ['new', 'starting', 'serving', 'draining'] as const) assert.ok(NODE_TRANSITIONS[s].includes('stopped'), `kill from ${s}`);
    assert.ok(NODE_TRANSITIONS.new.includes('draining') && NODE_TRANSITIONS.starting.includes('draining'));
  });

  it('accepts calls while serving and draining only', () => {
    assert.deepEqual(
      (['new', 'starting', 'serving', 'draining', 'stopped'] as const).filter(acceptsCalls),
      ['serving', 'draining'],
    );
  });
});

describe('node health policy', () => {
  function setup() {
    const statuses = new Map<string, boolean>();
    let fresh = false;
    let within = true;
    const logged: string[] = [];
    const policy = new HealthPolicy({
      health: {
        set: (name, serving) => void statuses.set(name, serving),
        setAll: (serving) => {
          for (const k of [LIVENESS_SERVICE, READINESS_SERVICE]) statuses.set(k, serving);
        },
      },
      clockOffset: {
        withinBound: () => within,
        get offsetMs() {
          return within ? 0 : 5000;
        },
        get peerCount() {
          return 2;
        },
      },
      fresh: () => fresh,
      maxClockSkewMs: () => 1000,
      log: { info: (_f: object, m: string) => logged.push(`info:${m}`), warn: (_f: object, m: string) => logged.push(`warn:${m}`) } as unknown as Logger,
    });
    return { statuses, policy, logged, setFresh: (v: boolean) => (fresh = v), setWithin: (v: boolean) => (within = v) };
  }

  it('liveness is up while starting or serving whatever etcd does; readiness needs serving, a fresh mirror and a clock in bound', () => {
    const t = setup();
    t.policy.refresh('starting');
    assert.deepEqual([t.statuses.get(LIVENESS_SERVICE), t.statuses.get(READINESS_SERVICE), t.policy.ready], [true, false, false]);
    t.policy.refresh('serving');
    assert.equal(t.policy.ready, false, 'mirror not fresh yet');
    t.setFresh(true);
    t.policy.refresh('serving');
    assert.deepEqual([t.statuses.get(READINESS_SERVICE), t.policy.ready], [true, true]);
    t.setWithin(false);
    t.policy.refresh('serving');
    assert.deepEqual([t.statuses.get(LIVENESS_SERVICE), t.policy.ready], [true, false]);
    t.policy.refresh('serving');
    assert.equal(t.logged.filter((m) => m.startsWith('warn:clock offset')).length, 1, 'logged on the change only');
    t.setWithin(true);
    t.policy.refresh('serving');
    assert.ok(t.logged.at(-1)!.startsWith('info:clock offset back'));
    t.policy.notServing();
    assert.deepEqual([t.statuses.get(LIVENESS_SERVICE), t.statuses.get(READINESS_SERVICE), t.policy.ready], [false, false, false]);
    t.policy.refresh('draining');
    assert.equal(t.statuses.get(LIVENESS_SERVICE), false);
  });
});
