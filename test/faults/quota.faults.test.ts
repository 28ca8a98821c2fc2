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
      // A logout must log the user out even over quota: etcd refuses txns that put, so the store ends
      // the session without its ENDED event (logged) rather than leaving it valid.
      const end = await outcome(n.api.end({ sessionId: ids[2]! }));
      report(`EndSession while over quota → ${status[end.code]} ${end.reason ?? ''}`);
      assert.equal(end.code, status.OK);
      assert.equal((await n.api.validate({ sessionId: ids[2]! })).verdict, Verdict.VERDICT_NOT_FOUND);

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

// Presence keys vanishing with a SIGKILLed node's lease, scavenger failover with the fence, Attach
// across node death and WatchEvents resumption are covered by the integration suite (make test):
// test/integration/rules-connection-reauth.test.ts, rules-scavenger.test.ts, node-lease.test.ts and
// rules-admin-events.test.ts.
