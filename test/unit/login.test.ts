import assert from 'node:assert/strict';
import { parseClusterConfig } from '../../src/config/schema.js';
import { planLogin, type ExistingSession } from '../../src/domain/login.js';

function policy(text = '') {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.policy;
}

const web = (hash: string, deviceId: string, present: boolean, createdAt = 0): ExistingSession => ({ hash, clientType: 'web', deviceId, createdAt, present });

describe('rule 7: one session per user per site (pure plan)', () => {
  const table: Array<[string, ExistingSession[], string, unknown]> = [
    ['no session: proceed, end nothing', [], 'pc2', { kind: 'proceed', end: [] }],
    ['other device with presence: refused', [web('a', 'pc1', true)], 'pc2', 'SESSION_ACTIVE_ELSEWHERE'],
    ['other device without presence: replaced', [web('a', 'pc1', false)], 'pc2', { kind: 'proceed', end: [{ hash: 'a', reason: 'REPLACED' }] }],
    ['same device with presence: replaced', [web('a', 'pc1', true)], 'pc1', { kind: 'proceed', end: [{ hash: 'a', reason: 'REPLACED' }] }],
  ];
  for (const [name, existing, device, want] of table) {
    it(name, () => {
      const plan = planLogin(policy(), 'web', device, existing);
      if (typeof want === 'string') {
        assert.equal(plan.kind, 'refuse');
        assert.equal(plan.kind === 'refuse' && plan.error.reason, want);
      } else assert.deepEqual(plan, want);
    });
  }
  it('mobile, api, widget, desktop and plugin are exempt by default', () => {
    for (const type of ['mobile', 'api', 'widget', 'desktop', 'plugin'] as const) {
      const existing = [{ hash: 'a', clientType: type, deviceId: 'x', createdAt: 0, present: true }];
      assert.deepEqual(planLogin(policy(), type, 'y', existing), { kind: 'proceed', end: [] });
    }
  });
  it('a web login ignores the user’s mobile sessions', () => {
    const existing = [{ hash: 'm', clientType: 'mobile' as const, deviceId: 'phone', createdAt: 0, present: true }];
    assert.deepEqual(planLogin(policy(), 'web', 'pc', existing), { kind: 'proceed', end: [] });
  });
});

describe('rule 8: per-user limits (pure plan)', () => {
  const mob = (hash: string, createdAt: number): ExistingSession => ({ hash, clientType: 'mobile', deviceId: hash, createdAt, present: true });
  it('deny refuses the login beyond the limit', () => {
    const plan = planLogin(policy('session.limit.per-user.mobile=2'), 'mobile', 'new', [mob('a', 1), mob('b', 2)]);
    assert.equal(plan.kind === 'refuse' && plan.error.reason, 'USER_SESSION_LIMIT');
  });
  it('terminate-oldest ends the oldest', () => {
    const plan = planLogin(policy('session.limit.per-user.mobile=2\nsession.limit.action=terminate-oldest'), 'mobile', 'new', [mob('b', 2), mob('a', 1)]);
    assert.deepEqual(plan, { kind: 'proceed', end: [{ hash: 'a', reason: 'REPLACED' }] });
  });
  it('under the limit nothing ends', () => {
    assert.deepEqual(planLogin(policy('session.limit.per-user.mobile=3'), 'mobile', 'new', [mob('a', 1)]), { kind: 'proceed', end: [] });
  });
});
