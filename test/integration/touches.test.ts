import assert from 'node:assert/strict';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { OffsetClock } from '../support/fake-clock.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

describe('rule 15: coalesced touches; rule 11: exact hit counting', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const clock = new OffsetClock();

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, clock });
    b = await startNode({ endpoints: etcd.endpoints, clock });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  async function version(hash: string): Promise<number> {
    const c = etcd.client();
    try {
      const r = await c.get(`/sm-test/s/${hash}`).exec();
      return Number(r.kvs[0]?.mod_revision ?? 0);
    } finally {
      c.close();
    }
  }

  async function versionOf(hash: string): Promise<number> {
    const c = etcd.client();
    try {
      const r = await c.get(`/sm-test/s/${hash}`).exec();
      return Number(r.kvs[0]?.version ?? 0);
    } finally {
      c.close();
    }
  }

  it('hundreds of validates on two nodes within one granularity write etcd at most once', async () => {
    const { sessionId } = await a.api.create({ site: 'default', user: 'erin', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} });
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.cache.get(hash));
    assert.equal(await versionOf(hash), 1);
    for (let i = 0; i < 200; i++) {
      const r = await (i % 2 ? a : b).api.validate({ sessionId });
      assert.equal(r.verdict, Verdict.VERDICT_VALID);
    }
    // Only the exact single-request transitions (hits 0 → 1 → 2, compare-and-swapped) may have happened.
    await eventually(async () => (await versionOf(hash)) === 3, { what: 'the two transition writes' });
    const rev = await version(hash);
    for (let i = 0; i < 200; i++) await (i % 2 ? a : b).api.validate({ sessionId });
    assert.equal(await version(hash), rev, 'no write within the granularity');

    clock.advance(61_000);
    for (let i = 0; i < 50; i++) await (i % 2 ? a : b).api.validate({ sessionId });
    await eventually(async () => (await versionOf(hash)) >= 3, { what: 'the granularity write' });
    assert.ok((await versionOf(hash)) <= 4, 'at most one write per node that saw the granularity pass');
  });

  it('with a hit maximum the count is exact across nodes', async () => {
    // Same clock as a and b (moved 61 s on above): a node that far off would refuse (cluster.max-clock-skew).
    const limited = await startNode({ endpoints: etcd.endpoints, config: 'session.hit-max=20', clock });
    try {
      const { sessionId } = await limited.api.create({ site: 'default', user: 'frank', clientType: ClientType.CLIENT_TYPE_API, deviceId: 'svc', attributes: {} });
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => ([a, b, limited][i % 3]!).api.validate({ sessionId }).then((r) => r.verdict)),
      );
      const valid = results.filter((v) => v === Verdict.VERDICT_VALID).length;
      assert.equal(valid, 20, `verdicts: ${results.join(',')}`);
      assert.ok(results.filter((v) => v !== Verdict.VERDICT_VALID).every((v) => v === Verdict.VERDICT_HIT_LIMIT || v === Verdict.VERDICT_NOT_FOUND));
      assert.ok(results.includes(Verdict.VERDICT_HIT_LIMIT));
      assert.equal((await a.api.validate({ sessionId })).verdict, Verdict.VERDICT_NOT_FOUND, 'the session ended with HIT_LIMIT');
    } finally {
      await limited.stop();
    }
  });

  it('graceful stop flushes pending touches', async () => {
    const c = await startNode({ endpoints: etcd.endpoints, clock });
    const { sessionId, session } = await c.api.create({ site: 'default', user: 'gina', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} });
    await c.api.validate({ sessionId });
    await c.api.validate({ sessionId });
    clock.advance(10_000);
    await c.api.validate({ sessionId }); // within the granularity: memory only
    const hash = hashSessionId(sessionId);
    const pendingAt = clock.now();
    assert.ok(c.node.touches.backlog >= 1);
    await c.stop();
    const cl = etcd.client();
    const kv = (await cl.get(`/sm-test/s/${hash}`).exec()).kvs[0]!;
    cl.close();
    const { decodeSession } = await import('../../src/store/etcd/codec.js');
    const rec = decodeSession(kv.value);
    assert.ok(rec.lastAccessAt >= pendingAt - 1000, 'the last access reached etcd');
    assert.ok(rec.lastAccessAt > session!.createTime!.getTime());
    assert.equal(rec.hits, 3);
  });
});
