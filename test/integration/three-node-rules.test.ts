import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { OffsetClock } from '../support/fake-clock.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

// Short timeouts so every rule can be watched happening: web idles out after 3 s (+ 300 ms touch
// granularity), single-request sessions after 1.5 s.
const CONFIG = ['session.timeout.web=3s', 'session.timeout.single-request=1500ms', 'session.timeout.absolute=0', 'session.scavenge.interval=1s'].join('\n');

describe('SPEC rules on a three-node cluster over a three-member etcd', function () {
  let etcd: EtcdCluster;
  let nodes: TestNode[];
  // One clock for the three nodes: a test moves it instead of sleeping (they never disagree).
  const clock = new OffsetClock();

  before(async () => {
    etcd = await EtcdCluster.start({ size: 3 });
    nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await startNode({ endpoints: etcd.endpoints, config: CONFIG, clock, nodeId: `n${i}` }));
  });
  after(async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await etcd?.stop();
  });

  const login = (user: string, clientType = ClientType.CLIENT_TYPE_WEB) =>
    nodes[0]!.api.create({ site: 'default', user, clientType, deviceId: `${user}-pc`, attributes: { login: Buffer.from('sso') } });

  it('rule 1: validates on any node keep a session alive; after the idle timeout every node refuses it, scavenged or not', async () => {
    const { sessionId } = await login('r1');
    const hash = hashSessionId(sessionId);
    // 4.5 s on the nodes' clock, longer than the 3 s idle timeout, with requests every 500 ms.
    let lastRequest = 0;
    for (let i = 0; i < 10; i++) {
      if (i > 0) clock.advance(500);
      assert.equal((await nodes[i % 3]!.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
      lastRequest = Date.now();
      // Every node's mirror has the access before the clock moves on (etcd, not time, is the wait).
      const at = clock.now();
      await eventually(() => nodes.every((n) => (n.node.cache.get(hash)?.rec.lastAccessAt ?? 0) >= at - 300), { what: 'the access to reach every mirror' });
    }
    // Poll with GetSession, which does not touch (a validate would renew the session).
    await eventually(async () => (await failure(nodes[1]!.api.get({ sessionId })).catch(() => null))?.code === status.NOT_FOUND, { timeoutMs: 8000, intervalMs: 50 });
    assert.ok(Date.now() - lastRequest >= 2900, 'never early');
    for (const n of nodes) assert.notEqual((await n.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('rule 2: a session that served one request expires after the single-request timeout', async () => {
    const { sessionId } = await login('r2');
    assert.equal((await nodes[2]!.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    const t0 = Date.now();
    await eventually(async () => (await failure(nodes[1]!.api.get({ sessionId })).catch(() => null))?.code === status.NOT_FOUND, { timeoutMs: 6000, intervalMs: 50 });
    const took = Date.now() - t0;
    assert.ok(took >= 1400 && took < 3000, `ended after ${took} ms: single-request, not the 3 s idle timeout`);
  });

  it('rule 9: logout ends the session at once on every node and frees the user', async () => {
    const { sessionId } = await login('r9');
    await nodes[1]!.api.end({ sessionId });
    for (const n of nodes) {
      await eventually(async () => (await n.api.validate({ sessionId })).verdict === Verdict.VERDICT_NOT_FOUND, { timeoutMs: 1000 });
    }
    const again = await nodes[2]!.api.create({ site: 'default', user: 'r9', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'another-pc', attributes: {} });
    assert.equal((await nodes[0]!.api.validate({ sessionId: again.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('rule 15: validates spread over three nodes write etcd at most once per granularity', async () => {
    const { sessionId } = await login('r15', ClientType.CLIENT_TYPE_MOBILE); // 60 min idle → 60 s granularity
    const key = `/sm-test/s/${hashSessionId(sessionId)}`;
    await nodes[0]!.api.validate({ sessionId });
    await nodes[0]!.api.validate({ sessionId }); // hits 0 → 1 → 2 are compare-and-swapped: two writes
    const c = etcd.client();
    const version = async () => Number((await c.get(key).exec()).kvs[0]!.version);
    await eventually(async () => (await version()) === 3);
    for (let i = 0; i < 300; i++) await nodes[i % 3]!.api.validate({ sessionId });
    assert.equal(await version(), 3, 'no further write within the granularity');
    c.close();
  });

  it('rule 17: attributes written on one node are read on another; stale etags abort; data goes with the session', async () => {
    const { sessionId } = await login('r17', ClientType.CLIENT_TYPE_MOBILE);
    const e1 = (await nodes[0]!.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('1'), etag: '', createOnly: false })).etag;
    assert.equal((await nodes[1]!.api.getAttribute({ sessionId, name: 'cart' })).attribute?.etag, e1);
    await nodes[2]!.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('2'), etag: e1, createOnly: false });
    const f = await failure(nodes[1]!.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('3'), etag: e1, createOnly: false }));
    assert.equal(f.code, status.ABORTED);
    await nodes[0]!.api.end({ sessionId });
    const c = etcd.client();
    const left = await c.getAll().prefix(`/sm-test/a/${hashSessionId(sessionId)}/`).keys();
    c.close();
    assert.deepEqual(left, []);
  });

  it('rule 14: exactly one node leads the scavenger', async () => {
    const leaders = await eventually(() => {
      const l = nodes.filter((n) => n.node.elector.fence);
      return l.length === 1 ? l : undefined;
    });
    assert.equal(leaders.length, 1);
  });
});
