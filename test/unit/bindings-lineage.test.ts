import assert from 'node:assert/strict';
import { bindingFor, carriedBinding, presentedBinding, requireBinding, UNBOUND } from '../../src/app/bindings.js';
import { bindingHash, generateSessionId } from '../../src/app/ids.js';
import { endLineage, LOGOUT_FOLLOW_WINDOW_MS } from '../../src/app/lineage.js';
import { bindingMatches } from '../../src/domain/decisions.js';
import { BindingMismatchError } from '../../src/domain/errors.js';
import type { SessionStore, StoredSession } from '../../src/domain/ports.js';
import { newSessionRecord, type Binding } from '../../src/domain/session.js';
import { decodeSession, encodeSession } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';

const HOME = { ip: '203.0.113.7', userAgent: 'Firefox/140' };
const OTHER_IP = { ip: '198.51.100.66', userAgent: 'Firefox/140' };
const OTHER_UA = { ip: '203.0.113.7', userAgent: 'curl/8' };

describe('issue 10 item 8: binding hashes with a per-record salt', () => {
  const id = generateSessionId();
  const table: Array<[string, Binding, typeof HOME | undefined, boolean]> = [
    ['unbound: anything matches', UNBOUND, undefined, true],
    ['ip+ua bound, same client', bindingFor(HOME, true, true), HOME, true],
    ['ip+ua bound, other ip', bindingFor(HOME, true, true), OTHER_IP, false],
    ['ip+ua bound, other user agent', bindingFor(HOME, true, true), OTHER_UA, false],
    ['ip+ua bound, no client info', bindingFor(HOME, true, true), undefined, false],
    ['ip bound only, other user agent', bindingFor(HOME, true, false), OTHER_UA, true],
    ['previous format (id-salted), same client', { ipHash: bindingHash(id, 'ip', HOME.ip), userAgentHash: '' }, HOME, true],
    ['previous format (id-salted), other ip', { ipHash: bindingHash(id, 'ip', HOME.ip), userAgentHash: '' }, OTHER_IP, false],
  ];
  for (const [name, bound, client, want] of table) {
    it(name, () => assert.equal(bindingMatches(bound, presentedBinding(bound, id, client)), want));
  }
  it('the salt is random per session, not derived from the id; hashes never contain the values', () => {
    const [x, y] = [bindingFor(HOME, true, true), bindingFor(HOME, true, true)];
    assert.ok(x.salt && y.salt && x.salt !== y.salt);
    assert.notEqual(x.ipHash, y.ipHash);
    assert.ok(!x.ipHash.includes(HOME.ip));
  });
  it('Reauthenticate carries the binding unchanged; a previous-format one is re-salted from the checked client', () => {
    const bound = bindingFor(HOME, true, true);
    assert.equal(carriedBinding(bound, HOME), bound);
    const legacy: Binding = { ipHash: bindingHash(id, 'ip', HOME.ip), userAgentHash: '' };
    const moved = carriedBinding(legacy, HOME);
    const newId = generateSessionId();
    assert.ok(moved.salt);
    assert.equal(bindingMatches(moved, presentedBinding(moved, newId, HOME)), true);
    assert.equal(bindingMatches(moved, presentedBinding(moved, newId, OTHER_IP)), false);
  });
  it('requireBinding throws BINDING_MISMATCH; the salt round-trips through the codec; a record without one decodes as the old format', () => {
    const rec = newSessionRecord({
      site: 's', user: 'u', clientType: 'web', deviceId: 'd', attributeNames: [], now: 1, binding: bindingFor(HOME, true, false),
      policy: { idleMs: 60_000, singleRequestMs: 0, absoluteMs: 0, hitMax: 0, touchGranularityMs: 1000, connectionGraceMs: 0 },
    });
    assert.throws(() => requireBinding(rec, id, OTHER_IP), BindingMismatchError);
    requireBinding(rec, id, HOME);
    assert.deepEqual(decodeSession(encodeSession(rec)).binding, rec.binding);
    assert.equal(decodeSession(encodeSession({ ...rec, binding: { ipHash: 'h', userAgentHash: '' } })).binding.salt, undefined);
  });
});

describe('issue 10 item 4: keys and lineage', () => {
  it('revocation and successor keys show no user name or session id', () => {
    const k = new Keys('/sm/');
    const key = k.revocation('acme', 'alice@example.com');
    assert.ok(!key.includes('alice') && !key.includes('acme'));
    assert.notEqual(key, k.revocation('acme', 'bob'));
    assert.notEqual(k.revocation('a/b', 'c'), k.revocation('a', 'b/c'), 'site and user cannot run into each other');
    assert.ok(!k.successor('h4sh').includes('alice') && k.successor('h4sh').endsWith('/f/h4sh'));
  });

  /** A fake store holding records and forward pointers; throws on any other call. */
  const NOW = 1_000_000;
  function fake(records: Record<string, boolean>, successors: Record<string, string>, raced = new Set<string>(), pointerAge = 1000) {
    const ended: string[] = [];
    const store = new Proxy({} as SessionStore, {
      get: (_t, name) => {
        if (name === 'getOrSuccessor') {
          return async (h: string) => ({ session: records[h] ? ({ hash: h } as StoredSession) : null, successor: successors[h] ?? null, successorAt: NOW - pointerAge });
        }
        throw new Error(`unexpected store call ${String(name)}`);
      },
    });
    const deps = {
      store: () => store,
      now: () => NOW,
      end: async (s: StoredSession) => {
        if (raced.delete(s.hash)) {
          // A re-authentication got in first: the record moved on.
          records[s.hash] = false;
          return false;
        }
        ended.push(s.hash);
        records[s.hash] = false;
        return true;
      },
    };
    return { deps, ended };
  }

  const table: Array<[string, Record<string, boolean>, Record<string, string>, Set<string>, boolean, string[]]> = [
    ['live session: ends it', { a: true }, {}, new Set(), true, ['a']],
    ['unknown: nothing', {}, {}, new Set(), false, []],
    ['re-authenticated twice: ends the current one', { c: true }, { a: 'b', b: 'c' }, new Set(), true, ['c']],
    ['re-authenticated while ending: follows to the successor', { a: true, b: true }, { a: 'b' }, new Set(['a']), true, ['b']],
    ['successor already ended: nothing', {}, { a: 'b' }, new Set(), false, []],
  ];
  for (const [name, records, successors, raced, want, ends] of table) {
    it(name, async () => {
      const f = fake(records, successors, raced);
      assert.equal(await endLineage(f.deps, 'a', 'REVOKED'), want);
      assert.deepEqual(f.ended, ends);
    });
  }

  const windowTable: Array<[string, number, boolean]> = [
    ['a logout follows a re-authentication that happened a moment ago', 2000, true],
    ['a logout with an id replaced long ago does not end the new session', LOGOUT_FOLLOW_WINDOW_MS + 1, false],
  ];
  for (const [name, age, want] of windowTable) {
    it(name, async () => {
      const f = fake({ b: true }, { a: 'b' }, new Set(), age);
      assert.equal(await endLineage(f.deps, 'a', 'LOGGED_OUT', LOGOUT_FOLLOW_WINDOW_MS), want);
      assert.deepEqual(f.ended, want ? ['b'] : []);
    });
  }

  it('a revoke follows however old the pointer is', async () => {
    const f = fake({ b: true }, { a: 'b' }, new Set(), 10 * LOGOUT_FOLLOW_WINDOW_MS);
    assert.equal(await endLineage(f.deps, 'a', 'REVOKED'), true);
  });
});
