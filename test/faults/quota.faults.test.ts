// Fault test of etcd's space quota (make test-faults): with a 16 MiB --quota-backend-bytes filled up,
// writes fail with RESOURCE_EXHAUSTED STORE_QUOTA_EXCEEDED, reads keep working, and the service
// recovers after compaction + defragmentation + `etcdctl alarm disarm`.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { eventually } from '../support/poll.js';
import { CapturedLogs, dumpKeyspace, etcdctl, leakedIds, outcome, RejectionGuard, startCapturedNode, type CapturedNode } from '../property/support.js';

const QUOTA = 16 * 1024 * 1024;
const report = (line: string) => console.log(`      » ${line}`);

describe('faults: etcd space quota exceeded', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  let n: CapturedNode;
  const logs = new CapturedLogs();
  const guard = new RejectionGuard();
  const ids: string[] = [];
  const login = () => n.api.create({ site: 'default', user: 'q', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: { cart: Buffer.from('1') } });

  before(async () => {
    guard.install();
    etcd = await EtcdCluster.start({ extraArgs: ['--quota-backend-bytes', String(QUOTA)] });
    n = await startCapturedNode({ endpoints: etcd.endpoints, logs, nodeId: 'quota' });
  });
  afterEach(() => guard.check());
  after(async () => {
    await n?.stop();
    await etcd?.stop();
    guard.uninstall();
  });

  it('writes fail with RESOURCE_EXHAUSTED STORE_QUOTA_EXCEEDED, reads and logouts continue, and recovery follows compaction + defrag + alarm disarm', async () => {
    for (let i = 0; i < 3; i++) ids.push((await login()).sessionId);
    const client = etcd.client();
    try {
      // Fill the backend with 512 KiB values until etcd raises the NOSPACE alarm.
      let filled = 0;
      for (let i = 0; i < 200; i++) {
        try {
          await client.put(`/filler/${i}`).value(randomBytes(512 * 1024));
          filled++;
        } catch (err) {
          assert.match((err as Error).message, /database space exceeded/);
          break;
        }
      }
      const alarms = etcdctl(etcd.endpoints, ['alarm', 'list']).toString();
      assert.match(alarms, /NOSPACE/);
      report(`filled ${filled} × 512 KiB; alarm: ${alarms.trim()}`);

      const create = await outcome(login());
      const set = await outcome(n.api.setAttribute({ sessionId: ids[0]!, name: 'cart', value: Buffer.from('2'), etag: '', createOnly: false }));
      for (const [what, o] of [['CreateSession', create], ['SetAttribute', set]] as const) {
        report(`${what} while over quota → ${status[o.code]} ${o.reason} "${o.details}"`);
        assert.deepEqual([o.code, o.reason], [status.RESOURCE_EXHAUSTED, 'STORE_QUOTA_EXCEEDED'], what);
        assert.match(o.details ?? '', /quota/);
      }
      // Reads continue: validate (memory), get, get attribute (etcd reads).
      assert.equal((await n.api.validate({ sessionId: ids[1]! })).verdict, Verdict.VERDICT_VALID);
      assert.equal((await n.api.get({ sessionId: ids[1]! })).session?.user, 'q');
      assert.equal(Buffer.from((await n.api.getAttribute({ sessionId: ids[1]!, name: 'cart' })).attribute!.value).toString(), '1');
      // A logout writes its ENDED event in the same txn, so etcd refuses it too (see the skipped test
      // below); it must then be all or nothing: refused cleanly and the session still whole.
      const end = await outcome(n.api.end({ sessionId: ids[2]! }));
      report(`EndSession while over quota → ${status[end.code]} ${end.reason ?? ''}`);
      if (end.code === status.OK) assert.equal((await n.api.validate({ sessionId: ids[2]! })).verdict, Verdict.VERDICT_NOT_FOUND);
      else {
        assert.deepEqual([end.code, end.reason], [status.RESOURCE_EXHAUSTED, 'STORE_QUOTA_EXCEEDED']);
        assert.equal((await n.api.validate({ sessionId: ids[2]! })).verdict, Verdict.VERDICT_VALID);
      }

      // Recovery: delete the filler, compact, defragment, disarm.
      // etcdctl, not the etcd3 client: its circuit breaker opened on the NOSPACE errors above.
      etcdctl(etcd.endpoints, ['del', '--prefix', '/filler/']);
      const status_ = JSON.parse(etcdctl(etcd.endpoints, ['endpoint', 'status', '-w', 'json']).toString()) as Array<{ Status: { header: { revision: number } } }>;
      const rev = status_[0]!.Status.header.revision;
      etcdctl(etcd.endpoints, ['compact', String(rev), '--physical']);
      etcdctl(etcd.endpoints, ['defrag']);
      etcdctl(etcd.endpoints, ['alarm', 'disarm']);
      const t0 = Date.now();
      const again = await eventually(async () => (await outcome(login())).res, { timeoutMs: 10_000, what: 'creates to work again' });
      ids.push(again.sessionId);
      report(`recovered: create OK ${Date.now() - t0} ms after disarm`);
      assert.ok((await n.api.setAttribute({ sessionId: ids[0]!, name: 'cart', value: Buffer.from('3'), etag: '', createOnly: false })).etag);
      assert.equal((await n.api.validate({ sessionId: again.sessionId })).verdict, Verdict.VERDICT_VALID);
    } finally {
      client.close();
    }
  });

  it('secrets: no session id in any log line or the etcd keyspace', async () => {
    assert.deepEqual(leakedIds(ids, [dumpKeyspace(etcd.endpoints), logs.text]), []);
  });
});

describe('faults: known gaps (skipped until fixed in src/)', function () {
  it.skip('BUG: a logout while etcd is over its space quota is refused (RESOURCE_EXHAUSTED), so the session stays valid', async () => {
    // SessionStore.end() puts the ENDED event in the same txn as the deletes (endOps → eventOp), and
    // etcd refuses any txn with a put under the NOSPACE alarm. Before issue 3 a logout was delete-only
    // and worked. A user who logs out must be logged out: write the event best-effort after the delete
    // txn when the combined txn fails with quota, or put the event in a separate txn. Reproduce with the
    // quota test above: EndSession answers RESOURCE_EXHAUSTED STORE_QUOTA_EXCEEDED and validate stays VALID.
  });
});

describe('faults that need issue 3 (presence, leadership, Attach, WatchEvents)', function () {
  it.skip('SIGKILL of a node: its presence keys vanish with its node lease within the lease TTL (needs node leases, issue 3)');
  it.skip('SIGKILL of the scavenger leader: another node takes over within the election TTL, and the fenced old leader deletes nothing (needs the scavenger, issue 3)');
  it.skip('etcd leader SIGKILL while Attach streams are open: connection-bound sessions survive (needs Attach, issue 3)');
  it.skip('WatchEvents resumes across a node restart and an etcd compaction within the retention window (needs WatchEvents, issue 3)');
  it.skip('a node cut off (stall) loses presence of its attached sessions only after session.connection.grace (needs Attach + presence, issue 3)');
});
