import assert from 'node:assert/strict';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { Keys, prefixEnd } from '../../src/store/etcd/keys.js';
import type { EtcdSessionStore } from '../../src/store/etcd/session-store.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('logins without per-user rules are group-committed', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  const prefix = '/sm-batch/';

  before(async () => {
    etcd = await EtcdCluster.start();
    n = await startNode({ endpoints: etcd.endpoints, prefix });
  });
  after(async () => {
    await n?.stop();
    await etcd?.stop();
  });

  it('200 concurrent mobile logins: 200 sessions, each with its attribute and CREATED event, in fewer txns', async () => {
    const store = n.node.service.store as EtcdSessionStore;
    const before = { ...store.logins.stats };
    const ids = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        n.api.create({ site: 'default', user: `b-${i}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: { cart: Buffer.from(String(i)) } }).then((r) => r.sessionId),
      ),
    );
    assert.equal(new Set(ids).size, 200);
    const writes = store.logins.stats.writes - before.writes;
    const batches = store.logins.stats.batches - before.batches;
    assert.equal(writes, 200);
    assert.ok(batches < 200, `${batches} txns for 200 logins`);
    for (const [i, sessionId] of ids.entries()) {
      const v = await n.api.validate({ sessionId });
      assert.equal(v.verdict, Verdict.VERDICT_VALID);
      const a = await n.api.getAttribute({ sessionId, name: 'cart' });
      assert.equal(Buffer.from(a.attribute!.value).toString(), String(i));
    }
    const keys = new Keys(prefix);
    const c = etcd.client();
    try {
      const count = async (p: string) => Number((await c.kv.range({ key: Buffer.from(p), range_end: prefixEnd(p), count_only: true })).count);
      assert.equal(await count(keys.sessions()), 200);
      assert.equal(await count(keys.events()), 200, 'one CREATED event per login');
    } finally {
      c.close();
    }
  });
});
