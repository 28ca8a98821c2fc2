import assert from 'node:assert/strict';
import { NodeEvents, type ScavengeReport } from '../../src/app/node-events.js';
import { FencedOutError, Scavenger, type ScavengeTarget } from '../../src/app/scavenger.js';
import type { EndItem, Fence, FencedResult, SessionStore, StoredSession } from '../../src/domain/ports.js';
import type { SessionRecord } from '../../src/domain/session.js';
import { Elector } from '../../src/leader/elector.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeElection, ManualScheduler } from '../support/fake-election.js';

const FENCE: Fence = { key: '/sm/election/scavenger/1', incarnation: 7 };

function stored(hash: string): StoredSession {
  return { hash, rec: {} as SessionRecord, version: 10, incarnation: 5, storeTag: 't' };
}

/** A store that allows only endFenced, answering from a script; every other call throws. */
class FakeStore implements Pick<SessionStore, 'endFenced'> {
  readonly calls: { items: readonly EndItem[]; fence: Fence }[] = [];
  constructor(private readonly answer: (items: readonly EndItem[]) => FencedResult) {}
  endFenced(items: readonly EndItem[], fence: Fence): Promise<FencedResult> {
    this.calls.push({ items, fence });
    return Promise.resolve(this.answer(items));
  }
}

function setup(answer: (items: readonly EndItem[]) => FencedResult, candidates: EndItem[]) {
  const election = new FakeElection();
  const timers = new ManualScheduler();
  const elector = new Elector(election, { nodeId: 'n1', retryDelayMs: 500, scheduler: timers.schedule });
  const clock = new FakeClock();
  const store = new FakeStore(answer);
  const afterEnd: string[] = [];
  const cutoffs: number[] = [];
  const service: ScavengeTarget = {
    endedSessions: (cutoff) => {
      cutoffs.push(cutoff);
      return { items: candidates, scanned: candidates.length + 1 };
    },
    afterEnd: (s, reason) => afterEnd.push(`${s.hash}:${reason}`),
  };
  const events = new NodeEvents();
  const seen: string[] = [];
  const reports: ScavengeReport[] = [];
  events.on('leadership', (l) => seen.push(`leadership:${l}`));
  events.on('scavenge-cycle', (r) => reports.push(r));
  const log = { info: () => {}, warn: () => {} };
  const scavenger = new Scavenger(
    { elector, service, store, feed: { assertFresh: () => {} }, clock, events, log },
    { intervalMs: () => 60_000, clockSkewMarginMs: () => 1000, scheduler: timers.schedule },
  );
  scavenger.on('state', (to, from) => seen.push(`${from}->${to}`));
  scavenger.on('lost', (e) => seen.push(`lost:${e.message}`));
  scavenger.on('stopped', () => seen.push('stopped'));
  return { election, timers, elector, clock, store, afterEnd, cutoffs, scavenger, seen, reports };
}

describe('Scavenger (on fakes)', () => {
  it('a cycle ends the expired sessions through the store with the fence, and reports them', async () => {
    const items: EndItem[] = [
      { s: stored('a'), reason: 'EXPIRED_IDLE' },
      { s: stored('b'), reason: 'EXPIRED_IDLE' },
    ];
    const t = setup((it) => ({ ended: it, changed: 0, fencedOut: false }), items);
    t.scavenger.start();
    assert.equal(t.scavenger.state, 'following');
    assert.equal(await t.scavenger.cycle(), null, 'not leading: no sweep');
    t.election.last.elect(FENCE);
    assert.equal(t.scavenger.state, 'leading');
    const r = await t.scavenger.cycle();
    assert.deepEqual(t.store.calls, [{ items, fence: FENCE }]);
    assert.deepEqual(t.cutoffs, [t.clock.now() - 1000], 'the skew margin is subtracted');
    assert.deepEqual(t.afterEnd, ['a:EXPIRED_IDLE', 'b:EXPIRED_IDLE']);
    assert.deepEqual([r!.scanned, r!.ended, r!.fencedOut], [3, { EXPIRED_IDLE: 2 }, 0]);
    assert.deepEqual(t.seen, ['new->following', 'following->leading', 'leadership:true']);
  });

  it('the scheduled cycle runs once elected and again each interval', async () => {
    const t = setup((it) => ({ ended: it, changed: 0, fencedOut: false }), []);
    t.scavenger.start();
    t.election.last.elect(FENCE);
    assert.deepEqual(t.timers.delays, [0]);
    t.timers.runAll();
    await new Promise<void>((r) => setImmediate(r)); // the cycle's promise settles
    assert.equal(t.reports.length, 1);
    assert.deepEqual(t.timers.delays, [60_000]);
  });

  it('fencedOut makes the elector step down: signal aborted, lost (not stopped), campaigning again', async () => {
    const items: EndItem[] = [{ s: stored('a'), reason: 'EXPIRED_IDLE' }];
    const t = setup(() => ({ ended: [], changed: 0, fencedOut: true }), items);
    t.scavenger.start();
    t.election.last.elect(FENCE);
    const signal = t.elector.signal!;
    const r = await t.scavenger.cycle();
    assert.equal(r!.fencedOut, 1);
    assert.ok(signal.aborted && signal.reason instanceof FencedOutError);
    assert.equal(t.elector.state, 'campaigning');
    assert.equal(t.election.last.ended, 'resigned');
    assert.equal(t.scavenger.state, 'following');
    assert.deepEqual(t.seen.slice(2), ['leadership:true', 'leading->following', 'leadership:false', `lost:${new FencedOutError().message}`]);
    assert.equal(await t.scavenger.cycle(), null, 'no sweep after stepping down');
    t.timers.runAll(); // the elector's retry (the scavenger's cycle timer was cancelled)
    assert.equal(t.election.campaigns.length, 2, 'campaigns again');
    t.election.last.elect({ ...FENCE, incarnation: 8 });
    assert.equal(t.scavenger.state, 'leading');
  });

  it('stop: resigns and emits stopped, not lost', async () => {
    const t = setup((it) => ({ ended: it, changed: 0, fencedOut: false }), []);
    t.scavenger.start();
    t.election.last.elect(FENCE);
    await t.scavenger.stop();
    await t.scavenger.stop();
    assert.equal(t.elector.state, 'stopped');
    assert.equal(t.election.last.ended, 'resigned');
    assert.deepEqual(t.seen, ['new->following', 'following->leading', 'leadership:true', 'leading->stopped', 'leadership:false', 'stopped']);
    assert.throws(() => t.scavenger.start(), IllegalTransitionError);
  });

  it('a stale mirror sweeps nothing', async () => {
    const t = setup(() => {
      throw new Error('unexpected endFenced');
    }, []);
    const s = new Scavenger(
      {
        elector: t.elector,
        service: { endedSessions: () => assert.fail('unexpected endedSessions'), afterEnd: () => assert.fail('unexpected afterEnd') },
        store: t.store,
        feed: { assertFresh: () => assert.fail('stale') },
        clock: t.clock,
        events: new NodeEvents(),
        log: { info: () => {}, warn: () => {} },
      },
      { intervalMs: () => 1000, scheduler: t.timers.schedule },
    );
    s.start();
    t.election.last.elect(FENCE);
    assert.equal(await s.cycle(), null);
    assert.equal(t.store.calls.length, 0);
  });
});
