import assert from 'node:assert/strict';
import { parseClusterConfig } from '../../src/config/schema.js';
import type { ClientType } from '../../src/domain/client-type.js';
import {
  backstopTtlMs,
  decideHeartbeat,
  decideValidate,
  idleDeadline,
  mustPersist,
  needsExactHit,
  standing,
  withActivity,
} from '../../src/domain/decisions.js';
import { sessionPolicyFor, touchGranularityFor } from '../../src/domain/policy.js';
import { newSessionRecord, type SessionRecord } from '../../src/domain/session.js';
import { FakeClock } from '../support/fake-clock.js';

const MIN = 60_000;

function session(clock: FakeClock, type: ClientType, config = ''): SessionRecord {
  const r = parseClusterConfig(config);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return newSessionRecord({
    site: 's',
    user: 'u',
    clientType: type,
    deviceId: 'd',
    policy: sessionPolicyFor(r.policy, type),
    attributeNames: [],
    now: clock.now(),
  });
}

/** Runs a validate and applies its activity, as the service does. */
function validate(rec: SessionRecord, clock: FakeClock): [string, SessionRecord] {
  const out = decideValidate(rec, clock.now());
  return [out.verdict, out.activity ? { ...rec, ...out.activity } : rec];
}

describe('rule 1: idle timeout per client type', () => {
  const table: Array<[ClientType, number]> = [
    ['web', 30 * MIN],
    ['api', 30 * MIN],
    ['mobile', 60 * MIN],
    ['widget', 60 * MIN],
    ['admin', 1440 * MIN],
  ];
  for (const [type, idle] of table) {
    it(`${type}: valid up to idle + granularity after the last request, expired after`, () => {
      const clock = new FakeClock();
      let rec = session(clock, type, 'session.timeout.absolute=0');
      let v: string;
      [v, rec] = validate(rec, clock); // hit 1
      [v, rec] = validate(rec, clock); // hit 2: leaves the single-request regime
      assert.equal(v, 'VALID');
      const g = touchGranularityFor(idle, null);
      clock.advance(idle + g);
      assert.equal(decideValidate(rec, clock.now()).verdict, 'VALID', 'never early');
      clock.advance(1);
      const out = decideValidate(rec, clock.now());
      assert.equal(out.verdict, 'EXPIRED');
      assert.equal(out.endReason, 'EXPIRED_IDLE');
    });
  }

  it('every validate resets the inactivity timer', () => {
    const clock = new FakeClock();
    let [, rec] = validate(session(clock, 'web'), clock);
    [, rec] = validate(rec, clock);
    for (let i = 0; i < 10; i++) {
      clock.advance(29 * MIN);
      const [v, next] = validate(rec, clock);
      assert.equal(v, 'VALID', `request ${i}`);
      rec = next;
    }
  });

  it('a heartbeat resets the timer without a hit (rule 4)', () => {
    const clock = new FakeClock();
    let [, rec] = validate(session(clock, 'web'), clock);
    [, rec] = validate(rec, clock);
    for (let i = 0; i < 5; i++) {
      clock.advance(25 * MIN);
      const out = decideHeartbeat(rec, clock.now());
      assert.equal(out.verdict, 'VALID');
      rec = { ...rec, ...out.activity! };
    }
    assert.equal(rec.hits, 2);
    assert.equal(rec.lastAccessAt, clock.now());
  });

  it('the refusal does not depend on any clean-up: the record is still there, the verdict is EXPIRED', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'api');
    clock.advance(10 * 24 * 60 * MIN);
    assert.equal(standing(rec, clock.now()).kind, 'ENDED');
    assert.equal(decideHeartbeat(rec, clock.now()).verdict, 'EXPIRED');
  });

  it('never has no idle deadline', () => {
    const clock = new FakeClock();
    assert.equal(idleDeadline(session(clock, 'api', 'session.timeout.api=never')).at, Infinity);
  });
});

describe('rule 6: connection-bound sessions', () => {
  it('never idle out while a connection is open anywhere', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'desktop', 'session.timeout.absolute=0');
    clock.advance(10 * 24 * 60 * MIN);
    assert.equal(decideValidate(rec, clock.now(), { attached: true, lostSince: 0 }).verdict, 'VALID');
    assert.equal(idleDeadline(rec, { attached: true, lostSince: 0 }).at, Infinity);
  });
  it('end CONNECTION_LOST one connection grace after the last connection went', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'plugin', 'session.timeout.absolute=0\nsession.connection.grace=2');
    clock.advance(60 * MIN);
    const lost = { attached: false, lostSince: clock.now() };
    clock.advance(2 * MIN);
    assert.equal(decideValidate(rec, clock.now(), lost).verdict, 'VALID');
    clock.advance(1);
    const out = decideValidate(rec, clock.now(), lost);
    assert.deepEqual([out.verdict, out.endReason], ['EXPIRED', 'CONNECTION_LOST']);
  });
  it('a new connection-bound session must attach within the grace', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'desktop', 'session.timeout.absolute=0');
    assert.equal(idleDeadline(rec).at, rec.createdAt + MIN);
  });
  it('the later of the stored and the observed loss time counts, so no node judges early', () => {
    const clock = new FakeClock();
    const rec = { ...session(clock, 'desktop', 'session.timeout.absolute=0'), connectionLostAt: 1000 };
    assert.equal(idleDeadline(rec, { attached: false, lostSince: 5000 }).at, 5000 + MIN);
  });
});

describe('rule 2: single-request sessions', () => {
  it('a session that served one request ends after 5 minutes (+ granularity)', () => {
    const clock = new FakeClock();
    const [, rec] = validate(session(clock, 'web'), clock);
    const g = rec.policy.touchGranularityMs;
    clock.advance(5 * MIN + g);
    assert.equal(decideValidate(rec, clock.now()).verdict, 'VALID');
    clock.advance(1);
    const out = decideValidate(rec, clock.now());
    assert.deepEqual([out.verdict, out.endReason], ['EXPIRED', 'EXPIRED_SINGLE_REQUEST']);
  });
  it('a second request switches to the idle timeout', () => {
    const clock = new FakeClock();
    let [, rec] = validate(session(clock, 'web'), clock);
    [, rec] = validate(rec, clock);
    clock.advance(20 * MIN);
    assert.equal(decideValidate(rec, clock.now()).verdict, 'VALID');
  });
  it('the rule never lengthens a shorter idle timeout, and 0 disables it', () => {
    const clock = new FakeClock();
    const short = session(clock, 'web', 'session.timeout.web=2');
    assert.equal(idleDeadline(short).reason, 'EXPIRED_IDLE');
    const off = session(clock, 'web', 'session.timeout.single-request=0');
    assert.equal(idleDeadline(off).at, off.lastAccessAt + 30 * MIN + off.policy.touchGranularityMs);
  });
});

describe('rule 3: absolute timeout', () => {
  it('after the absolute timeout the verdict is REAUTH_REQUIRED, not renewed, then ends after the idle window', () => {
    const clock = new FakeClock();
    let [, rec] = validate(session(clock, 'web', 'session.timeout.absolute=60\nsession.timeout.web=30'), clock);
    [, rec] = validate(rec, clock);
    for (let i = 0; i < 3; i++) {
      clock.advance(20 * MIN);
      [, rec] = validate(rec, clock);
    }
    clock.advance(MIN); // 61 min after login, 1 min after the last request
    const out = decideValidate(rec, clock.now());
    assert.equal(out.verdict, 'REAUTH_REQUIRED');
    assert.equal(out.activity, undefined, 'no renewal while re-auth is pending');
    assert.equal(decideHeartbeat(rec, clock.now()).verdict, 'REAUTH_REQUIRED');
    clock.advance(29 * MIN + rec.policy.touchGranularityMs);
    assert.equal(standing(rec, clock.now()).kind, 'REAUTH_REQUIRED');
    clock.advance(1);
    const end = standing(rec, clock.now());
    assert.deepEqual(end, { kind: 'ENDED', reason: 'EXPIRED_ABSOLUTE' });
  });
  it('a connection-bound session gets its re-auth window from the absolute deadline', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'desktop', 'session.timeout.absolute=60');
    clock.advance(61 * MIN);
    assert.equal(decideValidate(rec, clock.now()).verdict, 'REAUTH_REQUIRED');
    clock.advance(29 * MIN + rec.policy.touchGranularityMs);
    assert.equal(standing(rec, clock.now()).kind, 'REAUTH_REQUIRED');
    clock.advance(1);
    assert.equal(standing(rec, clock.now()).kind, 'ENDED');
  });
  it('absolute 0 means none', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'admin', 'session.timeout.absolute=0');
    assert.equal(rec.absoluteDeadline, 0);
  });
});

describe('rule 11: hit count', () => {
  it('counts every validate; the N+1-th request is refused with HIT_LIMIT', () => {
    const clock = new FakeClock();
    let rec = session(clock, 'api', 'session.hit-max=3');
    const verdicts: string[] = [];
    for (let i = 0; i < 4; i++) {
      let v: string;
      [v, rec] = validate(rec, clock);
      verdicts.push(v);
    }
    assert.deepEqual(verdicts, ['VALID', 'VALID', 'VALID', 'HIT_LIMIT']);
    assert.equal(rec.hits, 3);
    assert.equal(decideValidate(rec, clock.now()).endReason, 'HIT_LIMIT');
  });
  it('heartbeats count no hit and are not refused by the limit', () => {
    const clock = new FakeClock();
    const rec = { ...session(clock, 'api', 'session.hit-max=1'), hits: 1 };
    assert.equal(decideHeartbeat(rec, clock.now()).verdict, 'VALID');
    assert.equal(decideHeartbeat(rec, clock.now()).activity?.hits, 1);
  });
});

describe('rule 15: touch granularity', () => {
  it('defaults to min(60 s, idle / 10)', () => {
    assert.equal(touchGranularityFor(30 * MIN, null), 60_000);
    assert.equal(touchGranularityFor(5 * MIN, null), 30_000);
    assert.equal(touchGranularityFor(-1, null), 60_000);
    assert.equal(touchGranularityFor(30 * MIN, 5000), 5000);
  });
  it('writes at most once per granularity, except on leaving the single-request regime or under a hit maximum', () => {
    const clock = new FakeClock();
    const rec = { ...session(clock, 'web'), hits: 5 };
    const stored = { lastAccessAt: rec.lastAccessAt, hits: 5 };
    assert.equal(mustPersist(stored, { lastAccessAt: rec.lastAccessAt + 59_999, hits: 50 }, rec), false);
    assert.equal(mustPersist(stored, { lastAccessAt: rec.lastAccessAt + 60_000, hits: 6 }, rec), true);
    const fresh = session(clock, 'web');
    assert.equal(mustPersist({ lastAccessAt: fresh.lastAccessAt, hits: 1 }, { lastAccessAt: fresh.lastAccessAt, hits: 2 }, fresh), true);
    const limited = session(clock, 'api', 'session.hit-max=10');
    assert.equal(mustPersist({ lastAccessAt: 0, hits: 3 }, { lastAccessAt: 0, hits: 4 }, limited), true);
  });
  it('local activity merges by taking the newer of each field', () => {
    const clock = new FakeClock();
    const rec = session(clock, 'web');
    assert.equal(withActivity(rec, undefined), rec);
    const merged = withActivity(rec, { lastAccessAt: rec.lastAccessAt + 5, hits: 2 });
    assert.deepEqual([merged.lastAccessAt, merged.hits], [rec.lastAccessAt + 5, 2]);
    assert.equal(withActivity(merged, { lastAccessAt: 0, hits: 0 }), merged);
  });
  it('a node judging from the written value never expires early: deadline = written access + idle + granularity', () => {
    const clock = new FakeClock();
    const written = { ...session(clock, 'web'), hits: 5 };
    // Another node served a request 59 s after the written access and did not write it.
    const trueLast = written.lastAccessAt + 59_000;
    assert.ok(idleDeadline(written).at >= trueLast + 30 * MIN);
  });
});

describe('lease backstop', () => {
  it('covers the whole remaining life: idle, or the re-auth window after the absolute deadline', () => {
    const clock = new FakeClock();
    const rec = { ...session(clock, 'web'), hits: 5 };
    assert.equal(backstopTtlMs(rec, clock.now()), 30 * MIN + 60_000);
    const near = { ...session(clock, 'admin', 'session.timeout.absolute=60'), hits: 5 };
    assert.equal(backstopTtlMs(near, clock.now()), 1440 * MIN + 60_000);
    assert.equal(backstopTtlMs(session(clock, 'desktop', 'session.timeout.absolute=0'), clock.now()), 0);
    // A connection-bound session with an absolute timeout ends a re-auth window after that deadline.
    assert.equal(backstopTtlMs(session(clock, 'desktop'), clock.now()), 1440 * MIN + 30 * MIN + 60_000);
  });
});

describe('issue 10 item 5: which hits are counted exactly cluster-wide', () => {
  const clock = new FakeClock();
  const table: Array<[string, ClientType, string, number, boolean]> = [
    ['web, no hit yet: the 0 → 1 transition', 'web', '', 0, true],
    ['web, one hit: the 1 → 2 transition', 'web', '', 1, true],
    ['web, two hits: coalesced from here', 'web', '', 2, false],
    ['single-request timeout off', 'web', 'session.timeout.single-request=0', 0, false],
    ['single-request not shorter than idle', 'api', 'session.timeout.api=2m\nsession.timeout.single-request=5m', 0, false],
    ['connection-bound: no single-request rule', 'desktop', '', 0, false],
    ['hit maximum: always exact', 'web', 'session.hit-max=10', 5, true],
  ];
  for (const [name, type, config, hits, want] of table) {
    it(name, () => assert.equal(needsExactHit({ ...session(clock, type, config), hits }), want));
  }
});
