import assert from 'node:assert/strict';
import { parseCommandLine, shieldDashValues } from '../../src/cli/ctl-flags.js';

// base64url ids, tokens and handles start with '-' one time in 64: sessionctl must take them as values.
describe('sessionctl command line: values that start with a dash', () => {
  const id = '-dQw4w9WgXcQ-abcdefghijklmnopqrstuvwxyz0123';
  it('a session id or token starting with "-" is a positional, in its place', () => {
    const p = parseCommandLine(['attr-set', id, 'name', 'v', '-o', 'json'], {});
    assert.deepEqual(p.positionals, ['attr-set', id, 'name', 'v']);
    assert.equal(p.get('output'), 'json');
    assert.deepEqual(parseCommandLine(['resume', `-${id}`, '--device', 'laptop'], {}).positionals, ['resume', `-${id}`]);
  });

  it('a flag value starting with "-" stays the flag\'s value', () => {
    const p = parseCommandLine(['end-mine', 'abc', '--handle', '-h3ndle', '--from', '--x'], {});
    assert.equal(p.get('handle'), '-h3ndle');
    assert.equal(p.get('from'), '--x');
    assert.deepEqual(p.positionals, ['end-mine', 'abc']);
  });

  it('unknown flags and a flag without its value are still usage errors; -- still ends the flags', () => {
    assert.throws(() => parseCommandLine(['validate', 'x', '--tiemout', '3s'], {}), /Unknown option '--tiemout'/);
    assert.throws(() => parseCommandLine(['validate', 'x', '-z'], {}), /Unknown option '-z'/);
    assert.throws(() => parseCommandLine(['create', '--user', '--type', 'web'], {}));
    assert.deepEqual(parseCommandLine(['validate', '--', '--output'], {}).positionals, ['validate', '--output']);
    assert.deepEqual(shieldDashValues(['-h']), ['-h']);
    assert.equal(parseCommandLine(['--create-only', 'attr-set', 'a', 'b', 'c'], {}).bool('create-only'), true);
  });
});
