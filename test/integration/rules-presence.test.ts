import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const CONFIG = ['session.presence.grace=2s', 'session.timeout.web=30'].join('\n');

describe('rules 4, 5, 7: heartbeats, presence and one session per user (FotoWeb)', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    const node = { presenceSweepMs: 100 };
    a = await startNode({ endpoints: etcd.endpoints, config: CONFIG, nodeId: 'node-a', node });
    b = await startNode({ endpoints: etcd.endpoints, config: CONFIG, nodeId: 'node-b', node });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  const login = (n: TestNode, user: string, device: string, clientType = ClientType.CLIENT_TYPE_WEB) =>
    n.api.create({ site: 'default', user, clientType, deviceId: device, attributes: {} });

  it('rule 4/5: heartbeats write presence on transitions only, never per heartbeat', async () => {
    const { sessionId } = await login(a, 'hb', 'pc');
    const before = a.node.presence.writes;
    for (let i = 0; i < 50; i++) {
      const r = await a.api.heartbeat({ sessionId, instanceId: i % 2 ? 'tab-1' : 'tab-2' });
      assert.equal(r.verdict, Verdict.VERDICT_VALID);
    }
    await eventually(() => b.node.presenceMirror.hasPresence(hashSessionId(sessionId)), { what: 'presence visible on B' });
    assert.equal(a.node.presence.writes - before, 1, 'one write for the none → present transition');
    // After the grace without heartbeats the presence key goes (one more write).
    await eventually(() => !b.node.presenceMirror.hasPresence(hashSessionId(sessionId)), { timeoutMs: 6000, what: 'presence gone' });
    assert.equal(a.node.presence.writes - before, 2);
  });

  it('FotoWeb: tab open on device 1 → login from device 2 refused; tabs closed → after the grace, login replaces', async () => {
    const first = await login(a, 'frida', 'device-1');
    await a.api.heartbeat({ sessionId: first.sessionId, instanceId: 'tab' });
    await eventually(() => b.node.presenceMirror.hasPresence(hashSessionId(first.sessionId)));
    const refused = await failure(login(b, 'frida', 'device-2'));
    assert.deepEqual([refused.code, refused.reason], [status.FAILED_PRECONDITION, 'SESSION_ACTIVE_ELSEWHERE']);
    // mobile and api logins are unaffected while the web session has presence
    await login(b, 'frida', 'phone', ClientType.CLIENT_TYPE_MOBILE);
    await login(b, 'frida', 'script', ClientType.CLIENT_TYPE_API);
    // tabs closed: no heartbeats; after the presence grace the login from device 2 replaces
    const second = await eventually(async () => login(b, 'frida', 'device-2').catch(() => null), { timeoutMs: 8000, what: 'replacing login' });
    assert.equal((await a.api.validate({ sessionId: first.sessionId })).verdict === Verdict.VERDICT_VALID, false);
    await eventually(async () => (await a.api.validate({ sessionId: first.sessionId })).verdict === Verdict.VERDICT_NOT_FOUND);
    assert.equal((await a.api.validate({ sessionId: second.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('rule 7: a login from the same device replaces even with presence; logout frees the user at once', async () => {
    const s1 = await login(a, 'sam', 'pc');
    await a.api.heartbeat({ sessionId: s1.sessionId, instanceId: 'tab' });
    const s2 = await login(b, 'sam', 'pc');
    assert.equal((await b.api.validate({ sessionId: s1.sessionId })).verdict, Verdict.VERDICT_NOT_FOUND);
    await b.api.heartbeat({ sessionId: s2.sessionId, instanceId: 'tab' });
    await a.api.end({ sessionId: s2.sessionId });
    const s3 = await login(a, 'sam', 'laptop');
    assert.equal((await a.api.validate({ sessionId: s3.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('rule 7: 50 simultaneous logins of one user from different devices leave exactly one session', async () => {
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => login(i % 2 ? a : b, 'crowd', `device-${i}`)));
    const ok = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<typeof login>>> => r.status === 'fulfilled');
    for (const r of results) {
      if (r.status === 'rejected') {
        const code = (r.reason as { code: number }).code;
        assert.ok(code === status.FAILED_PRECONDITION || code === status.ABORTED, `unexpected ${code}`);
      }
    }
    assert.ok(ok.length >= 1);
    const verdicts = await Promise.all(ok.map((r) => a.api.validate({ sessionId: r.value.sessionId }).then((v) => v.verdict)));
    assert.equal(verdicts.filter((v) => v === Verdict.VERDICT_VALID).length, 1, 'exactly one live session');
    const client = etcd.client();
    const index = await client.getAll().prefix('/sm-test/u/default/crowd/').keys();
    const records = await client.getAll().prefix('/sm-test/s/').keys();
    client.close();
    assert.equal(index.length, 1, 'one user-index entry');
    assert.ok(records.some((k) => k.endsWith(index[0]!.split('/').pop()!)));
  });
});
