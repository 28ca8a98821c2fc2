import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('rules 8 and 12: per-user limits and the cluster session cap', function () {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => etcd?.stop());

  const login = (n: TestNode, user: string, device: string) =>
    n.api.create({ site: 'default', user, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: device, attributes: {} });

  it('rule 8: deny refuses the login beyond session.limit.per-user.<type>', async () => {
    const n = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-r8a/', config: 'session.limit.per-user.mobile=2' });
    try {
      await login(n, 'u', 'p1');
      await login(n, 'u', 'p2');
      const f = await failure(login(n, 'u', 'p3'));
      assert.deepEqual([f.code, f.reason], [status.RESOURCE_EXHAUSTED, 'USER_SESSION_LIMIT']);
      await login(n, 'other-user', 'p3');
    } finally {
      await n.stop();
    }
  });

  it('rule 8: terminate-oldest ends the oldest session', async () => {
    const n = await startNode({
      endpoints: etcd.endpoints,
      prefix: '/sm-r8b/',
      config: 'session.limit.per-user.mobile=2\nsession.limit.action=terminate-oldest',
    });
    try {
      const s1 = await login(n, 'u', 'p1');
      const s2 = await login(n, 'u', 'p2');
      const s3 = await login(n, 'u', 'p3');
      assert.equal((await n.api.validate({ sessionId: s1.sessionId })).verdict, Verdict.VERDICT_NOT_FOUND);
      assert.equal((await n.api.validate({ sessionId: s2.sessionId })).verdict, Verdict.VERDICT_VALID);
      assert.equal((await n.api.validate({ sessionId: s3.sessionId })).verdict, Verdict.VERDICT_VALID);
    } finally {
      await n.stop();
    }
  });

  it('rule 12: session.max-sessions caps live sessions exactly, even under concurrent logins on two nodes', async () => {
    const a = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-r12/', config: 'session.max-sessions=10' });
    const b = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-r12/', config: 'session.max-sessions=10' });
    try {
      const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => login(i % 2 ? a : b, `user-${i}`, 'd')));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      assert.equal(ok, 10);
      for (const r of results) {
        if (r.status === 'rejected') {
          const code = (r.reason as { code: number }).code;
          assert.ok(code === status.RESOURCE_EXHAUSTED || code === status.ABORTED, `unexpected ${code}`);
        }
      }
      const f = await failure(login(a, 'late', 'd'));
      assert.deepEqual([f.code, f.reason], [status.RESOURCE_EXHAUSTED, 'SESSION_LIMIT_REACHED']);
    } finally {
      await Promise.allSettled([a.stop(), b.stop()]);
    }
  });
});
