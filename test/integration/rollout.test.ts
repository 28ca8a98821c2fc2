import assert from 'node:assert/strict';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { decodeSession } from '../../src/store/etcd/codec.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

/** Readiness as a load balancer sees it: the node's readiness health status. */
function ready(n: TestNode): boolean {
  return n.node.ready;
}

describe('graceful rollout and shutdown', function () {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => etcd?.stop());

  it('a rolling update of all replicas loses no session and fails no validate', async () => {
    const opts = { endpoints: etcd.endpoints, prefix: '/sm-roll/', node: { drainDelayMs: 300, electionTtlSeconds: 2 } };
    let nodes: TestNode[] = [await startNode(opts), await startNode(opts), await startNode(opts)];
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await nodes[i % 3]!.api.create({ site: 'default', user: `roll-${i}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: {} });
      ids.push(r.sessionId);
    }
    let stop = false;
    let calls = 0;
    const failures: string[] = [];
    const load = (async () => {
      let i = 0;
      while (!stop) {
        // The client balances over ready endpoints only, as Kubernetes does with readiness.
        const pool = nodes.filter(ready);
        if (pool.length === 0) {
          failures.push('no ready endpoint');
          await new Promise((r) => setTimeout(r, 10));
          continue;
        }
        const n = pool[i++ % pool.length]!;
        try {
          const v = await n.api.validate({ sessionId: ids[i % ids.length]! });
          calls++;
          if (v.verdict !== Verdict.VERDICT_VALID) failures.push(`verdict ${v.verdict}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    for (let k = 0; k < 3; k++) {
      const fresh = await startNode(opts); // maxSurge 1: the new pod is ready before the old one goes
      await eventually(() => ready(fresh));
      const old = nodes[0]!;
      nodes = [...nodes.slice(1), fresh];
      // The old pod drains: NOT_SERVING first (the balancer drops it), in-flight calls finish, then exit.
      nodes.push(old);
      const stopping = old.node.stop();
      await eventually(() => !ready(old));
      nodes = nodes.filter((x) => x !== old);
      await stopping;
      old.api.close();
    }
    const before = calls;
    await eventually(() => calls >= before + 20, { what: 'the load to keep running on the new replicas' });
    stop = true;
    await load;
    assert.ok(calls > 100, `load ran (${calls} calls)`);
    assert.deepEqual(failures, []);
    for (const id of ids) assert.equal((await nodes[0]!.api.validate({ sessionId: id })).verdict, Verdict.VERDICT_VALID);
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('SIGTERM-style stop under load completes in-flight validates and hands leadership over at once', async () => {
    // Under a hit maximum every validate is a serialized etcd write, so calls really are in flight.
    const opts = { endpoints: etcd.endpoints, prefix: '/sm-term/', config: 'session.hit-max=1000', node: { electionTtlSeconds: 10 } };
    const a = await startNode(opts);
    await eventually(() => a.node.elector.fence, { what: 'a leads' });
    const b = await startNode(opts);
    const { sessionId } = await a.api.create({ site: 'default', user: 'term', clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd', attributes: {} });
    const seen = () => a.node.service.stats.cacheHits + a.node.service.stats.cacheMisses;
    const before = seen();
    const inflight = Array.from({ length: 50 }, () => a.api.validate({ sessionId }));
    await eventually(() => seen() - before >= 50, { what: 'all 50 calls received' });
    const stopped = a.stop();
    const results = await Promise.allSettled(inflight);
    const ok = results.filter((r) => r.status === 'fulfilled' && r.value.verdict === Verdict.VERDICT_VALID).length;
    assert.equal(ok, 50, 'every accepted call completed');
    await stopped;
    // Leadership moved at once (resign), not after the 10 s election TTL.
    await eventually(() => b.node.elector.fence, { timeoutMs: 3000, what: 'b leads after a resigned' });
    const c = etcd.client();
    const kv = (await c.get(`/sm-term/s/${hashSessionId(sessionId)}`).exec()).kvs[0]!;
    c.close();
    assert.equal(decodeSession(kv.value).hits, 50, 'every hit reached etcd');
    await b.stop();
  });
});
