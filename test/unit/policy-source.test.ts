import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyFileSource } from '../../src/auth/policy-source.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';

describe('PolicyFileSource: the lifecycle contract and reload events', () => {
  let dir: string;
  let file: string;
  const policy = (allow: string[]) => JSON.stringify({ callers: { ops: { identities: ['dns:ops'], allow, sites: '*' } } });

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sm-policy-source-'));
    file = join(dir, 'callers.json');
    writeFileSync(file, policy(['admin']));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('moves new -> running -> stopped; a second start throws; stop is idempotent and emits stopped once', async () => {
    const source = new PolicyFileSource({ path: file, pollMs: 60_000 });
    const states: string[] = [];
    let stopped = 0;
    source.on('state', (to, from) => states.push(`${from}->${to}`));
    source.on('stopped', () => stopped++);
    assert.equal(source.state, 'new');
    source.start();
    assert.equal(source.state, 'running');
    assert.throws(() => source.start(), IllegalTransitionError);
    await source.stop();
    await source.stop();
    assert.equal(source.state, 'stopped');
    assert.deepEqual(states, ['new->running', 'running->stopped']);
    assert.equal(stopped, 1);
    assert.throws(() => source.start(), IllegalTransitionError);
  });

  it('a source never started can be stopped', async () => {
    const source = new PolicyFileSource({ path: file });
    await source.stop();
    assert.equal(source.state, 'stopped');
  });

  it('emits change for a valid update and reject (once per bad text) for an invalid one; unsubscribe works', async () => {
    const source = new PolicyFileSource({ path: file });
    const changes: string[] = [];
    const rejects: Array<readonly string[]> = [];
    const off = source.onChange((p) => changes.push(p.version));
    source.on('reject', (problems) => rejects.push(problems));
    assert.equal(await source.check(), 'unchanged');
    writeFileSync(file, policy(['admin', 'validate']));
    assert.equal(await source.check(), 'applied');
    assert.deepEqual(changes, [source.current().version]);
    writeFileSync(file, '{"callers": 1}');
    assert.equal(await source.check(), 'rejected');
    assert.equal(await source.check(), 'unchanged');
    assert.equal(rejects.length, 1);
    assert.notEqual(source.lastError(), '');
    off();
    writeFileSync(file, policy(['login']));
    assert.equal(await source.check(), 'applied');
    assert.equal(changes.length, 1);
    assert.equal(source.lastError(), '');
    await source.stop();
  });
});
