import assert from 'node:assert/strict';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

describe('node registry: a lost node lease is re-acquired, re-registered and presence re-published', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'lease-a', node: { nodeLeaseTtlSeconds: 3 } });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'lease-b', node: { nodeLeaseTtlSeconds: 3 } });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('registers every node under its own lease', async () => {
    await eventually(() => b.node.nodeMirror.list().length === 2);
    assert.deepEqual(b.node.nodeMirror.list().map((n) => n.nodeId), ['lease-a', 'lease-b']);
  });

  it('after its lease is revoked behind its back, the node reports it, re-registers and re-publishes presence', async () => {
    const { sessionId } = await a.api.create({ site: 'default', user: 'u', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
    await a.api.heartbeat({ sessionId, instanceId: 'tab' });
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.presenceMirror.hasPresence(hash));
    let lost = 0;
    a.node.events.on('node-lease-lost', () => lost++);
    const oldLease = a.node.registry.leaseId;
    const c = etcd.client();
    await c.leaseClient.leaseRevoke({ ID: oldLease });
    c.close();
    // The registration and the presence key vanish with the lease…
    await eventually(() => !b.node.presenceMirror.hasPresence(hash) || a.node.registry.leaseId !== oldLease, { what: 'lease gone' });
    // …and come back under a new one.
    await eventually(() => lost === 1 && a.node.registry.leaseId !== '0' && a.node.registry.leaseId !== oldLease, { timeoutMs: 10_000, what: 'new lease' });
    await eventually(() => b.node.nodeMirror.list().some((n) => n.nodeId === 'lease-a'), { what: 're-registered' });
    await eventually(() => b.node.presenceMirror.hasPresence(hash), { what: 'presence re-published' });
    assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
  });
});
