// Fault tests of one node cut off from etcd by the FaultProxy (make test-faults): a stalled network
// (connections open, nothing forwarded) must fail closed like an outage, and a watch whose resume
// revision was compacted while cut off must relist and converge.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { generateSessionId, hashSessionId } from '../../src/app/ids.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { Keys } from '../../src/store/etcd/keys.js';
import { EtcdCluster } from '../support/etcd.js';
import { eventually } from '../support/poll.js';
import { FaultProxy } from '../support/proxy.js';
import { CapturedLogs, dumpKeyspace, leakedIds, outcome, RejectionGuard, sleep, startCapturedNode, type CapturedNode } from '../property/support.js';
import { Ledger } from './workload.js';

const MAX_STALENESS_MS = 1500;
const SLACK_MS = 500;
const PREFIX = '/sm-test/';
const report = (line: string) => console.log(`      » ${line}`);

describe('faults: a node cut off from etcd by a proxy', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  let proxy: FaultProxy;
  let direct: CapturedNode;
  let cutoff: CapturedNode;
  let proxy2: FaultProxy | undefined;
  let cutoff2: CapturedNode | undefined;
  let stalledRecovered = false;
  const logs = new CapturedLogs();
  const guard = new RejectionGuard();
  const ledger = new Ledger();

  before(async () => {
    guard.install();
    etcd = await EtcdCluster.start();
    proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    const config = `cache.max-staleness=${MAX_STALENESS_MS}ms`;
    direct = await startCapturedNode({ endpoints: etcd.endpoints, logs, nodeId: 'direct', config });
    cutoff = await startCapturedNode({ endpoints: [proxy.url], logs, nodeId: 'cutoff', config });
    for (let i = 0; i < 20; i++) await ledger.create(i % 2 ? direct : cutoff, 1);
  });
  afterEach(() => guard.check());
  after(async () => {
    // A wedged node may not stop cleanly: give each stop 5 s, then move on (mocha --exit ends the rest).
    const within = (p: Promise<unknown> | undefined) => Promise.race([p, new Promise((r) => setTimeout(r, 5000))]);
    await Promise.allSettled([within(direct?.stop()), within(cutoff?.stop()), within(cutoff2?.stop())]);
    await proxy?.stop();
    await proxy2?.stop();
    await etcd?.stop();
    guard.uninstall();
  });

  it('stall: the cut-off node fails closed within cache.max-staleness, the other keeps serving, both serve within 5 s of the network healing', async () => {
    const id = (await ledger.create(direct))!;
    await eventually(async () => (await cutoff.api.validate({ sessionId: id })).verdict === Verdict.VERDICT_VALID);
    const samples: Array<{ who: 'direct' | 'cutoff'; at: number; code: number; verdict?: number }> = [];
    let running = true;
    const sample = async (who: 'direct' | 'cutoff', n: CapturedNode) => {
      while (running) {
        const o = await outcome(n.api.validate({ sessionId: id }));
        samples.push({ who, at: Date.now(), code: o.code, verdict: o.res?.verdict });
        await sleep(25);
      }
    };
    const loops = [sample('direct', direct), sample('cutoff', cutoff)];
    await sleep(500);
    const tStall = Date.now();
    proxy.set('stall');
    // Writes through the stalled node while cut off: refused (UNAVAILABLE) or timed out, never half done.
    const write = await outcome(cutoff.api.setAttribute({ sessionId: id, name: 'during-stall', value: Buffer.from('x'), etag: '', createOnly: false }));
    await sleep(Math.max(0, 10_000 - (Date.now() - tStall)));
    const tHeal = Date.now();
    proxy.set('pass');
    // Recovery after a long stall is a known gap (skipped test below): watch up to 15 s and report.
    await eventually(() => samples.some((s) => s.who === 'cutoff' && s.at > tHeal && s.code === status.OK && s.verdict === Verdict.VERDICT_VALID), {
      timeoutMs: 15_000,
      what: 'the cut-off node to serve again',
    }).catch(() => undefined);
    running = false;
    await Promise.all(loops);
    const closed = samples.find((s) => s.who === 'cutoff' && s.at >= tStall && s.code === status.UNAVAILABLE)?.at;
    const staleOk = samples.filter((s) => s.who === 'cutoff' && s.at > tStall + MAX_STALENESS_MS + SLACK_MS && s.at < tHeal && s.code === status.OK);
    const served = samples.find((s) => s.who === 'cutoff' && s.at > tHeal && s.code === status.OK)?.at ?? Number.NaN;
    const directErrors = samples.filter((s) => s.who === 'direct' && s.code !== status.OK).length;
    report(`stall: cut-off node UNAVAILABLE ${closed === undefined ? 'never' : `${closed - tStall} ms`} after the stall; VALID again ${served - tHeal} ms after healing; write during stall → ${status[write.code]} ${write.reason ?? ''}; direct node errors: ${directErrors}`);
    assert.ok(closed !== undefined && closed - tStall <= MAX_STALENESS_MS + SLACK_MS, 'failed closed in time');
    assert.equal(staleOk.length, 0, 'no answer from stale data');
    assert.equal(directErrors, 0, 'the node with a working network never failed');
    assert.notEqual(write.code, status.OK, 'a write through a stalled store is not acknowledged');
    const s = ledger.sessions.get(id)!;
    s.attrs.set('during-stall', { acked: undefined, maybe: new Set(['x']) });
    assert.deepEqual(await ledger.verify(direct), []);
    if (Number.isFinite(served)) assert.deepEqual(await ledger.verify(cutoff), []);
    stalledRecovered = Number.isFinite(served);
  });

  it('compaction while cut off: the watch resume point is gone, the node relists and converges to etcd exactly', async () => {
    // A fresh proxy and node: the stalled one above may still be wedged (known gap).
    proxy2 = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy2.start();
    cutoff2 = await startCapturedNode({ endpoints: [proxy2.url], logs, nodeId: 'cutoff-2', config: `cache.max-staleness=${MAX_STALENESS_MS}ms` });
    await compactionWhileCutOff(cutoff2, proxy2);
  });

  /** Stalls `node`'s link, changes and compacts etcd behind its back, then heals the link (cut, pass). */
  async function compactionWhileCutOff(cutoff: CapturedNode, proxy: FaultProxy): Promise<void> {
    const keep = (await ledger.create(direct))!;
    const gone = (await ledger.create(direct))!;
    await eventually(() => cutoff.node.cache.get(hashSessionId(gone)), { what: 'the cut-off node to see the session' });
    // A miss writes the sync marker into the session prefix: the relist below must not take it for a session.
    assert.equal((await cutoff.api.validate({ sessionId: generateSessionId() })).verdict, Verdict.VERDICT_NOT_FOUND);
    const relists = cutoff.node.feed.stats.relists;
    proxy.set('stall');
    await eventually(() => !cutoff.node.feed.isFresh(), { timeoutMs: 5000, what: 'the cut-off node to go stale' });
    await ledger.end(direct, gone);
    const fresh = (await ledger.create(direct))!;
    await ledger.set(direct, keep);
    for (let i = 0; i < 5; i++) await ledger.create(direct);
    const client = etcd.client();
    try {
      await client.put('/sm-faults-bump').value('x');
      const rev = Number((await client.get('/sm-faults-bump').exec()).header.revision);
      await client.kv.compact({ revision: rev, physical: true });
      // Heal by resetting the connections (cut) and then passing traffic: a stalled connection that is
      // merely resumed may stay wedged (see the skipped test below).
      proxy.set('cut');
      proxy.set('pass');
      await eventually(() => cutoff.node.feed.stats.relists > relists && cutoff.node.feed.state === 'live', { timeoutMs: 20_000, what: 'a relist' });
      // Converged: the mirror holds exactly the session records etcd holds.
      // The session prefix also holds the sync marker a cache miss writes (Keys.syncMarker): not a session.
      const keys = new Keys(PREFIX);
      const inEtcd = (await client.getAll().prefix(keys.sessions()).keys()).flatMap((k) => keys.hashOfSessionKey(k) ?? []).sort();
      const inCache = [...cutoff.node.cache.values()].map((s) => s.hash).sort();
      assert.deepEqual(inCache, inEtcd);
      report(`compaction: relisted (${cutoff.node.feed.stats.relists - relists}×), mirror = etcd (${inEtcd.length} sessions)`);
    } finally {
      client.close();
    }
    assert.equal((await cutoff.api.validate({ sessionId: gone })).verdict, Verdict.VERDICT_NOT_FOUND);
    assert.equal((await cutoff.api.validate({ sessionId: fresh })).verdict, Verdict.VERDICT_VALID);
    assert.deepEqual(await ledger.verify(cutoff), []);
  }

  it('after a ~10 s stall heals, the node serves again (the watch create has a deadline)', async () => {
    // Observed on this machine: stall 10 s, then pass; the node answers CACHE_STALE for 150 s and more,
    // feed state 'down', no further log line. A 3 s stall recovers in ~0.25 s. During the stall the
    // keepalive (5 s + 3 s) drops the HTTP/2 connection and the reconnect opens a new TCP connection
    // through the stalled link, whose preface is swallowed; WatchFeed.openWatch() then waits for the
    // watch 'created' response with no deadline, so onBroken() never fires again. Fix in
    // src/cache/watch-feed.ts: arm a timer when a watch stream is opened (e.g. max(5 s, 2 × progress
    // interval)) and treat "no created / no progress response by then" as a broken stream (cancel it,
    // onBroken), and let the gateway recreate the etcd3 client/channel after repeated failures.
    assert.ok(stalledRecovered, 'the stalled node served again within 5 s of healing');
  });

  it('secrets: no session id in any log line or the etcd keyspace', async () => {
    assert.deepEqual(leakedIds(ledger.ids, [dumpKeyspace(etcd.endpoints), logs.text]), []);
  });
});
