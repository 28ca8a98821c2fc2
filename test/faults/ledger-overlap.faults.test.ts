// The fault workload's ledger against a validate that overlaps an EndSession of the same session
// (docs/faults.md finding 13). The end goes through node A on a slow link: etcd commits the delete,
// node B learns it from its watch and answers NOT_FOUND, while A's acknowledgement is still on the
// wire. That answer is linearizable (the end was in flight); a ledger that ignored in-flight ends
// counted it as an acknowledged session lost.
import assert from 'node:assert/strict';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { eventually } from '../support/poll.js';
import { FaultProxy } from '../support/proxy.js';
import { CapturedLogs, RejectionGuard, startCapturedNode, type CapturedNode } from '../property/support.js';
import { Ledger } from './workload.js';

describe('faults: the workload ledger and a validate overlapping an EndSession', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  let proxy: FaultProxy;
  let a: CapturedNode;
  let b: CapturedNode;
  const logs = new CapturedLogs();
  const guard = new RejectionGuard();

  before(async () => {
    guard.install();
    etcd = await EtcdCluster.start();
    proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    a = await startCapturedNode({ endpoints: [proxy.url], logs, nodeId: 'a', requestTimeoutMs: 5000 });
    b = await startCapturedNode({ endpoints: etcd.endpoints, logs, nodeId: 'b' });
  });
  afterEach(() => guard.check());
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await proxy?.stop();
    await etcd?.stop();
    guard.uninstall();
  });

  it('a NOT_FOUND seen while the end is in flight is counted as an overlap, not a loss', async () => {
    const ledger = new Ledger();
    const id = await ledger.create(b);
    assert.ok(id, 'created');
    // A must hold the session in its mirror so its end is one txn, not a wait for a sync.
    await eventually(async () => (await a.api.validate({ sessionId: id })).verdict === Verdict.VERDICT_VALID, { timeoutMs: 10_000, what: 'A sees the session' });
    proxy.latencyMs = 400;
    let endDone = false;
    const end = ledger.end(a, id).finally(() => (endDone = true));
    let notFoundWhileInFlight = 0;
    while (!endDone) {
      const before = ledger.tallies.validate['VERDICT_NOT_FOUND'] ?? 0;
      await ledger.validate(b, id);
      if (!endDone && (ledger.tallies.validate['VERDICT_NOT_FOUND'] ?? 0) > before) notFoundWhileInFlight++;
    }
    await end;
    proxy.latencyMs = 0;
    assert.equal(ledger.tallies.end['OK'], 1, `the end was acknowledged (${ledger.summary()})`);
    assert.ok(notFoundWhileInFlight >= 1, `B answered NOT_FOUND before A acknowledged the end (${ledger.summary()})`);
    assert.equal(ledger.overlappingEnds, notFoundWhileInFlight);
    assert.deepEqual(ledger.lostOnValidate, []);
    assert.deepEqual(ledger.lostOnEnd, []);
    assert.deepEqual(await ledger.verify(b), []);
  });
});
