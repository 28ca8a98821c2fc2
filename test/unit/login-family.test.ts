import assert from 'node:assert/strict';
import { decideResume, MAX_FAMILY_SESSIONS, rotated, type LoginFamily } from '../../src/domain/login-family.js';
import { generateLoginToken, hashLoginToken, openSuccessor, requireLoginToken, sealSuccessor } from '../../src/app/login-tokens.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);
const fam: LoginFamily = {
  site: 's',
  user: 'u',
  clientType: 'web',
  deviceId: 'd1',
  issuedAt: T0,
  expiresAt: T0 + 30 * DAY,
  idleMs: 14 * DAY,
  lastUsedAt: T0,
  current: 'cur',
  previous: { hash: 'prev', spentAt: T0, sealed: 'sealed' },
  sessions: ['s0'],
};

describe('persistent logins: resume decision (SPEC rule 19)', () => {
  const table: Array<[string, LoginFamily, string, string, number, string]> = [
    ['current token resumes', fam, 'cur', 'd1', T0 + 1000, 'resume'],
    ['another device is refused first', fam, 'cur', 'd2', T0, 'device'],
    ['spent token within the grace gets the successor', fam, 'prev', 'd1', T0 + 10_000, 'grace'],
    ['spent token just after the grace is reuse', fam, 'prev', 'd1', T0 + 10_001, 'reused'],
    ['an older spent token is reuse at once', fam, 'older', 'd1', T0, 'reused'],
    ['idle limit passed', fam, 'cur', 'd1', T0 + 14 * DAY, 'expired'],
    ['just before the idle limit', fam, 'cur', 'd1', T0 + 14 * DAY - 1, 'resume'],
    ['lifetime passed although recently used', { ...fam, lastUsedAt: T0 + 29 * DAY }, 'cur', 'd1', T0 + 30 * DAY, 'expired'],
    ['revoked family', { ...fam, revokedAt: T0, revokedReason: 'TOKEN_REUSED' }, 'cur', 'd1', T0, 'revoked'],
  ];
  for (const [name, f, h, dev, now, want] of table) {
    it(name, () => assert.equal(decideResume(f, h, dev, now, 10_000).kind, want));
  }

  it('rotation spends the current token, keeps the sealed successor and caps the session list', () => {
    let f = fam;
    for (let i = 0; i < MAX_FAMILY_SESSIONS + 5; i++) f = rotated(f, `t${i}`, 'x', `s${i + 1}`, T0 + i);
    assert.equal(f.current, `t${MAX_FAMILY_SESSIONS + 4}`);
    assert.equal(f.previous?.hash, `t${MAX_FAMILY_SESSIONS + 3}`);
    assert.equal(f.sessions.length, MAX_FAMILY_SESSIONS);
    assert.equal(f.sessions.at(-1), `s${MAX_FAMILY_SESSIONS + 5}`);
  });
});

describe('persistent logins: token crypto', () => {
  it('tokens have 256 bits, are URL-safe and hashed with a domain separator', () => {
    const t = generateLoginToken();
    assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    requireLoginToken(t);
    assert.notEqual(hashLoginToken(t), t);
    assert.ok(!hashLoginToken(t).includes(t));
  });
  it('rejects malformed tokens', () => {
    for (const bad of ['', 'x', 'a'.repeat(42), 'a'.repeat(44), `${'a'.repeat(42)}=`, 'a'.repeat(10_000)]) {
      assert.throws(() => requireLoginToken(bad), { reason: 'MALFORMED_LOGIN_TOKEN' } as object);
    }
  });
  it('a sealed successor opens only with the spent token', () => {
    const spent = generateLoginToken();
    const sealed = sealSuccessor(spent, { token: 'next', sessionId: 'sid' });
    assert.ok(!sealed.includes('next') && !sealed.includes('sid'));
    assert.deepEqual(openSuccessor(spent, sealed), { token: 'next', sessionId: 'sid' });
    assert.equal(openSuccessor(generateLoginToken(), sealed), null);
    assert.equal(openSuccessor(spent, 'garbage'), null);
  });
});
