import assert from 'node:assert/strict';
import { Elector, ElectorStoppedError } from '../../src/leader/elector.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import { FakeElection, ManualScheduler } from '../support/fake-election.js';

const FENCE = { key: '/sm/election/scavenger/1', incarnation: 7 };

function setup() {
  const election = new FakeElection();
  const timers = new ManualScheduler();
  const elector = new Elector(election, { nodeId: 'n1', retryDelayMs: 500, scheduler: timers.schedule });
  const events: string[] = [];
  elector.on('state', (to, from) => events.push(`${from}->${to}`));
  elector.on('lost', (e) => events.push(`lost:${e.message}`));
  elector.on('stopped', () => events.push('stopped'));
  return { election, timers, elector, events };
}

describe('Elector (on a fake election)', () => {
  it('validates its options', () => {
    assert.throws(() => new Elector(new FakeElection(), { nodeId: '' }), /nodeId/);
    assert.throws(() => new Elector(new FakeElection(), { nodeId: 'n', retryDelayMs: -1 }), /retryDelayMs/);
  });

  it('elected: hands out the fence and a live signal, and campaigns with the node id', () => {
    const { election, elector, events } = setup();
    let got: [typeof FENCE, AbortSignal] | undefined;
    elector.on('elected', (fence, signal) => (got = [fence, signal]));
    assert.equal(elector.state, 'new');
    elector.start();
    assert.equal(elector.state, 'campaigning');
    assert.equal(election.last.value, 'n1');
    election.last.elect(FENCE);
    assert.equal(elector.state, 'leader');
    assert.deepEqual(elector.fence, FENCE);
    assert.ok(got && got[0] === FENCE && !got[1].aborted && got[1] === elector.signal);
    assert.deepEqual(events, ['new->campaigning', 'campaigning->leader']);
  });

  it('stepDown aborts the signal, resigns, emits lost (not stopped) and campaigns again after the delay', () => {
    const { election, timers, elector, events } = setup();
    elector.start();
    election.last.elect(FENCE);
    const signal = elector.signal!;
    const reason = new Error('fence: the leader key changed');
    elector.stepDown(reason);
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, reason);
    assert.equal(elector.state, 'campaigning');
    assert.equal(elector.fence, null);
    assert.equal(elector.signal, undefined);
    assert.equal(election.last.ended, 'resigned');
    assert.deepEqual(timers.delays, [500]);
    assert.equal(election.campaigns.length, 1, 'no campaign before the retry delay');
    timers.runAll();
    assert.equal(election.campaigns.length, 2, 'campaigns again');
    assert.deepEqual(events, ['new->campaigning', 'campaigning->leader', 'leader->campaigning', 'lost:fence: the leader key changed']);
    election.last.elect({ ...FENCE, incarnation: 9 });
    assert.equal(elector.state, 'leader');
    assert.notEqual(elector.signal, signal, 'a fresh signal per term');
  });

  it('stepDown while not leader does nothing', () => {
    const { election, timers, elector, events } = setup();
    elector.start();
    elector.stepDown(new Error('late'));
    assert.equal(elector.state, 'campaigning');
    assert.equal(election.last.ended, 'running');
    assert.deepEqual(timers.delays, []);
    assert.deepEqual(events, ['new->campaigning']);
  });

  it('a failed candidacy: lost only when it was leader; campaigns again either way', () => {
    const { election, timers, elector, events } = setup();
    elector.start();
    election.last.fail(new Error('lease grant failed'));
    assert.deepEqual(events, ['new->campaigning'], 'not leader: nothing lost');
    timers.runAll();
    election.last.elect(FENCE);
    const signal = elector.signal!;
    election.last.fail(new Error('lease lost'));
    assert.ok(signal.aborted);
    assert.deepEqual(events.slice(-2), ['leader->campaigning', 'lost:lease lost']);
    assert.equal(election.campaigns.length, 2);
    timers.runAll();
    assert.equal(election.campaigns.length, 3);
  });

  it('stop: resigns, aborts the signal with ElectorStoppedError, emits stopped (not lost), and is idempotent', async () => {
    const { election, timers, elector, events } = setup();
    elector.start();
    election.last.elect(FENCE);
    const signal = elector.signal!;
    await elector.stop();
    await elector.stop();
    assert.ok(signal.aborted && signal.reason instanceof ElectorStoppedError);
    assert.equal(election.last.ended, 'resigned');
    assert.equal(elector.state, 'stopped');
    assert.deepEqual(events, ['new->campaigning', 'campaigning->leader', 'leader->stopped', 'stopped']);
    election.last.elect(FENCE); // a late election of the resigned candidacy changes nothing
    assert.equal(elector.state, 'stopped');
    assert.deepEqual(timers.delays, []);
  });

  it('stop cancels a pending re-campaign', async () => {
    const { election, timers, elector } = setup();
    elector.start();
    election.last.elect(FENCE);
    elector.stepDown(new Error('fenced out'));
    await elector.stop();
    timers.runAll();
    assert.equal(election.campaigns.length, 1);
  });

  it('abandon: leaves the candidacy to expire (no resign) and emits neither lost nor stopped', () => {
    const { election, elector, events } = setup();
    elector.start();
    election.last.elect(FENCE);
    elector.abandon();
    assert.equal(election.last.ended, 'abandoned');
    assert.equal(elector.state, 'stopped');
    assert.deepEqual(events, ['new->campaigning', 'campaigning->leader', 'leader->stopped']);
  });

  it('illegal transitions throw', async () => {
    const { elector } = setup();
    elector.start();
    assert.throws(() => elector.start(), IllegalTransitionError);
    await elector.stop();
    assert.throws(() => elector.start(), IllegalTransitionError);
  });

  it('leader() asks the election', async () => {
    const { election, elector } = setup();
    election.leaderValue = 'n2';
    assert.equal(await elector.leader(), 'n2');
  });
});
