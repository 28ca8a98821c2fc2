// Fault test of issue 10 item 5 (make test-faults): the single-request rule behind round-robin load
// balancing. One validate on node A and one on node B are two hits; after the single-request timeout
// the session must still be VALID under its idle timeout. Time moves by an injected clock (no sleeps).
// Also checks that exact 0 → 1 → 2 transitions keep steady-state etcd writes per validate ≤ 0.01.
import assert from 'node:assert/strict';
import { hashSessionId } from '../../src/app/ids.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { OffsetClock } from '../support/fake-clock.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const report = (line: string) => console.log(`      » ${line}`);
const CONFIG = 'session.timeout.web=30m\nsession.timeout.single-request=5m\nsession.touch.granularity=10s\nsession.timeout.absolute=0';

/** etcd's count of keys written (puts, also inside txns), from its own /metrics. */
async function etcdPuts(etcd: EtcdCluster): Promise<number> {
  const text = await (await fetch(`${etcd.endpoints[0]}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_mvcc_put_total '));
  return Number(line!.split(' ')[1]);
}

describe('faults: single-request rule across nodes (round-robin)', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const clock = new OffsetClock();

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, clock, config: CONFIG, nodeId: 'rr-a' });
    b = await startNode({ endpoints: etcd.endpoints, clock, config: CONFIG, nodeId: 'rr-b' });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  const login = (user: string) => a.api.create({ site: 'default', user, clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} });

  it('one validate on A and one on B → still VALID after the single-request timeout (20 sessions)', async () => {
    let expired = 0;
    for (let i = 0; i < 20; i++) {
      const { sessionId } = await login(`rr-${i}`);
      const hash = hashSessionId(sessionId);
      await eventually(() => b.node.cache.get(hash), { what: 'B mirrors the session' });
      assert.equal((await a.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
      assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
      // Minutes pass on both nodes; the watch has long delivered whatever was written.
      await eventually(() => [a, b].every((n) => (n.node.cache.get(hash)?.rec.hits ?? 0) >= 2), { timeoutMs: 1000 }).catch(() => {});
      clock.advance(6 * 60_000);
      const verdicts = [(await a.api.validate({ sessionId })).verdict, (await b.api.validate({ sessionId })).verdict];
      if (verdicts.some((v) => v !== Verdict.VERDICT_VALID)) expired++;
    }
    report(`${expired} of 20 two-node sessions ended by the single-request timeout`);
    assert.equal(expired, 0);
  });

  it('a single request still ends at the single-request timeout', async () => {
    const { sessionId } = await login('rr-once');
    assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    clock.advance(6 * 60_000);
    assert.equal((await a.api.validate({ sessionId })).verdict, Verdict.VERDICT_EXPIRED);
  });

  it('steady state: etcd writes per validate ≤ 0.01 (from etcd_mvcc_put_total)', async () => {
    const { sessionId } = await login('rr-steady');
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.cache.get(hash));
    for (let i = 0; i < 4; i++) await (i % 2 ? a : b).api.validate({ sessionId });
    await eventually(() => [a, b].every((n) => (n.node.cache.get(hash)?.rec.hits ?? 0) >= 2));
    const before = await etcdPuts(etcd);
    const N = 2000;
    for (let i = 0; i < N; i++) {
      clock.advance(10); // 20 s in all: two touch granularities
      assert.equal((await (i % 2 ? a : b).api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    }
    const puts = (await etcdPuts(etcd)) - before;
    report(`${puts} etcd puts for ${N} validates on two nodes = ${(puts / N).toFixed(4)} per validate`);
    assert.ok(puts / N <= 0.01, `${puts} puts`);
  });
});
