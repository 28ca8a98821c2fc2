import assert from 'node:assert/strict';
import { Backoff } from '../../src/lifecycle/backoff.js';
import { IllegalTransitionError, Lifecycle, type Transitions } from '../../src/lifecycle/lifecycle.js';
import { Listeners } from '../../src/lifecycle/listeners.js';

type S = 'new' | 'running' | 'stopped';
const table: Transitions<S> = { new: ['running', 'stopped'], running: ['stopped'], stopped: [] };

describe('lifecycle contract', () => {
  it('moves along the table, emits state changes in order, and throws on an illegal transition', () => {
    const l = new Lifecycle<S>('thing', table, 'new');
    const seen: string[] = [];
    l.on('state', (to, from) => seen.push(`${from}->${to}`));
    l.to('running');
    l.to('running');
    l.to('stopped');
    assert.deepEqual(seen, ['new->running', 'running->stopped']);
    assert.throws(() => l.to('running'), (e: unknown) => e instanceof IllegalTransitionError && e.reason === 'ILLEGAL_TRANSITION');
    assert.throws(() => l.expect('start', 'new'), IllegalTransitionError);
  });

  it('keeps lost distinct from stopped', () => {
    const l = new Lifecycle<S>('thing', table, 'new');
    const events: string[] = [];
    l.on('lost', (e) => events.push(`lost:${e.message}`));
    l.on('stopped', () => events.push('stopped'));
    l.lost(new Error('watch'));
    l.stopped();
    assert.deepEqual(events, ['lost:watch', 'stopped']);
  });

  it('rejects a table naming an unknown state', () => {
    assert.throws(() => new Lifecycle<S>('thing', { new: ['gone' as S], running: [], stopped: [] }, 'new'), /unknown state gone/);
  });
});

describe('Listeners', () => {
  it('unsubscribes, runs once-listeners once, and isolates a throwing listener', () => {
    const errors: unknown[] = [];
    const l = new Listeners<{ tick: [n: number] }>((e) => errors.push(e));
    const got: number[] = [];
    const off = l.on('tick', (n) => got.push(n));
    l.once('tick', (n) => got.push(n * 10));
    l.on('tick', () => {
      throw new Error('boom');
    });
    l.emit('tick', 1);
    off();
    l.emit('tick', 2);
    assert.deepEqual(got, [1, 10]);
    assert.equal(errors.length, 2);
    assert.equal(l.count('tick'), 1);
  });
});

describe('Listeners while emitting', () => {
  it('a listener added or removed during an emit takes effect from the next emit', () => {
    const l = new Listeners<{ tick: [] }>();
    const seen: string[] = [];
    let offB = () => {};
    l.on('tick', () => {
      seen.push('a');
      l.on('tick', () => seen.push('late'));
      offB();
    });
    offB = l.on('tick', () => seen.push('b'));
    l.emit('tick');
    assert.deepEqual(seen, ['a', 'b']);
    seen.length = 0;
    l.emit('tick');
    assert.deepEqual(seen.slice(0, 2), ['a', 'late']);
    assert.ok(!seen.includes('b'));
  });
});

describe('Backoff', () => {
  it('grows to the cap without jitter when random is 0, and resets', () => {
    const b = new Backoff('t', { initialMs: 100, maxMs: 500 }, () => 0);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 500, 500]);
    b.reset();
    assert.equal(b.next(), 100);
  });

  it('jitters down by at most the jitter fraction and validates its options', () => {
    const b = new Backoff('t', { initialMs: 100, maxMs: 100, jitter: 0.5 }, () => 1);
    assert.equal(b.next(), 50);
    assert.throws(() => new Backoff('t', { initialMs: 0, maxMs: 10 }), /initialMs/);
    assert.throws(() => new Backoff('t', { initialMs: 10, maxMs: 5 }), /maxMs/);
  });
});
