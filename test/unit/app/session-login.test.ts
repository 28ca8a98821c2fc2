import assert from 'node:assert/strict';
import { hashSessionId } from '../../../src/app/ids.js';
import { sessionServiceOnFakes } from '../../support/fakes/session-service.js';
import { failsWith } from './reasons.js';

const login = (clientType: string, deviceId = 'd2', extra: object = {}) => ({ site: 'default', user: 'alice', clientType, deviceId, attributes: new Map<string, Uint8Array>(), ...extra });

describe('app/sessions/login (SessionService.create on fakes)', () => {
  it('a mobile login (no per-user rule): one store login without reading the user, counted, announced, mirrored', async () => {
    const f = sessionServiceOnFakes();
    f.allowStore('login');
    const r = await f.svc.create(login('mobile', 'd1', { attributes: new Map([['cart', Buffer.from('x')]]) }));
    assert.equal(r.view.state, 'ACTIVE');
    assert.equal(r.view.hash, hashSessionId(r.id));
    assert.deepEqual(f.store.calls, ['login']);
    assert.equal(f.mirror.get(r.view.hash)?.rec.user, 'alice');
    assert.equal(f.mem.lastTtlMs, f.touches.ttlMs);
    assert.equal(f.svc.stats.created, 1);
    assert.deepEqual(f.emitted, ['created:default:mobile']);
    assert.equal(r.loginToken, undefined);
  });

  // Per-user rules are decided in the domain; the service plumbs the presence it knows into the plan
  // and the plan's outcome back out (refusal as the error, ended sessions with their bookkeeping).
  const table: Array<{ name: string; properties?: string; type: string; existing: string; present: boolean; want: string | 'REPLACED' | 'proceed' }> = [
    { name: 'web, other device, no presence: the old session is REPLACED', type: 'web', existing: 'web', present: false, want: 'REPLACED' },
    { name: 'web, other device, a connection on this node: SESSION_ACTIVE_ELSEWHERE', type: 'web', existing: 'web', present: true, want: 'SESSION_ACTIVE_ELSEWHERE' },
    { name: 'mobile over its per-user limit with deny: USER_SESSION_LIMIT', properties: 'session.limit.per-user.mobile=1', type: 'mobile', existing: 'mobile', present: false, want: 'USER_SESSION_LIMIT' },
    {
      name: 'mobile over its per-user limit with terminate-oldest: the oldest ends',
      properties: 'session.limit.per-user.mobile=1\nsession.limit.action=terminate-oldest',
      type: 'mobile',
      existing: 'mobile',
      present: false,
      want: 'proceed',
    },
  ];
  for (const t of table) {
    it(t.name, async () => {
      const f = sessionServiceOnFakes({ properties: t.properties ?? '' });
      const old = f.seed(t.existing as 'web');
      if (t.present) f.presence.connections.set(old.s.hash, 1);
      f.allowStore('login');
      if (t.want !== 'REPLACED' && t.want !== 'proceed') {
        await failsWith(f.svc.create(login(t.type)), t.want);
        assert.ok(f.mem.has(old.s.hash));
        assert.equal(f.svc.stats.created, 0);
        return;
      }
      const r = await f.svc.create(login(t.type));
      assert.ok(!f.mem.has(old.s.hash), 'the older session ended in the login txn');
      assert.equal(f.mirror.get(old.s.hash), undefined, 'and left the mirror');
      assert.ok(f.presence.forgotten.includes(old.s.hash));
      const reason = f.mem.ended[0]!.reason;
      assert.equal(f.svc.stats.ended[reason], 1);
      assert.deepEqual(f.emitted, [`ended:default:${t.existing}:${reason}`, `created:default:${t.type}`]);
      if (t.want === 'REPLACED') assert.equal(reason, 'REPLACED');
      assert.ok(f.mirror.get(r.view.hash));
    });
  }

  const refusals: Array<[string, object, string]> = [
    ['an unknown site', { site: 'nowhere' }, 'SITE_NOT_FOUND'],
    ['an unknown client type', { clientType: 'toaster' }, 'UNKNOWN_CLIENT_TYPE'],
    ['a persistent login without a family store', { persistent: true }, 'PERSISTENT_LOGIN_NOT_ALLOWED'],
    ['ID_MODE_CLIENT_ADDRESS without an id key', { idMode: 'CLIENT_ADDRESS', client: { ip: '10.0.0.1', userAgent: 'ua' } }, 'ID_MODE_DISABLED'],
    ['an ip binding without the client ip', { bindIp: true }, 'INVALID_FIELD'],
  ];
  for (const [name, extra, reason] of refusals) {
    it(`refuses ${name} (${reason}) before touching the store`, async () => {
      const f = sessionServiceOnFakes({ properties: 'session.sites=default' });
      await failsWith(f.svc.create({ ...login('web'), ...extra }), reason);
      assert.deepEqual(f.store.calls, []);
    });
  }

  it('CLIENT_ADDRESS: the id is derived from site + client, and a second login for it is SESSION_EXISTS', async () => {
    const f = sessionServiceOnFakes({ service: { idKey: Buffer.alloc(32, 7) } });
    f.allowStore('login');
    f.allowSync();
    const input = { ...login('mobile'), idMode: 'CLIENT_ADDRESS' as const, client: { ip: '10.0.0.1', userAgent: 'ua' } };
    const a = await f.svc.create(input);
    await failsWith(f.svc.create(input), 'SESSION_EXISTS');
    assert.equal(f.svc.stats.created, 1);
    assert.equal(f.feed.syncs, 1, 'the first login missed the mirror and waited for it once');
    assert.ok(f.mirror.get(hashSessionId(a.id)));
  });
});
