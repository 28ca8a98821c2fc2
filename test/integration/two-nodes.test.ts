import assert from 'node:assert/strict';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { FaultProxy } from '../support/proxy.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const login = (n: TestNode, user: string, device = 'd1') =>
  n.api.create({ site: 'default', user, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: device, attributes: {} });

describe('two nodes on one etcd', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints });
    b = await startNode({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('a session created on A validates on B at once, through the cache-miss path', async () => {
    const { sessionId } = await login(a, 'miss');
    // Make sure B has not seen the watch event yet: read straight after create.
    const hash = hashSessionId(sessionId);
    const missesBefore = b.node.service.stats.cacheMisses;
    const wasCached = b.node.cache.get(hash) !== undefined;
    const r = await b.api.validate({ sessionId });
    assert.equal(r.verdict, Verdict.VERDICT_VALID);
    assert.equal(r.session?.user, 'miss');
    if (!wasCached) assert.equal(b.node.service.stats.cacheMisses, missesBefore + 1);
  });

  it('100 logins on A, each validated on B straight away: all VALID (the miss waits for its own marker event, not a progress notification)', async () => {
    let valid = 0;
    for (let i = 0; i < 100; i++) {
      const { sessionId } = await login(a, `straight-${i}`);
      if ((await b.api.validate({ sessionId })).verdict === Verdict.VERDICT_VALID) valid++;
    }
    assert.equal(valid, 100);
  });

  it('after B’s watch delivered it, B answers from memory (cache-hit path)', async () => {
    const { sessionId } = await login(a, 'hit');
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.cache.get(hash), { what: 'watch delivery to B' });
    const hits = b.node.service.stats.cacheHits;
    const misses = b.node.service.stats.cacheMisses;
    assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    assert.equal(b.node.service.stats.cacheHits, hits + 1);
    assert.equal(b.node.service.stats.cacheMisses, misses);
  });

  it('logout on A is refused on B within 100 ms', async () => {
    const { sessionId } = await login(a, 'logout');
    await eventually(() => b.node.cache.get(hashSessionId(sessionId)));
    assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    await a.api.end({ sessionId });
    const t0 = Date.now();
    await eventually(async () => (await b.api.validate({ sessionId })).verdict === Verdict.VERDICT_NOT_FOUND, {
      timeoutMs: 100,
      intervalMs: 2,
      what: 'B to refuse the logged-out session',
    });
    assert.ok(Date.now() - t0 <= 150);
  });

  it('a node restart loses no session', async () => {
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => login(a, `restart-${i}`).then((r) => r.sessionId)));
    await a.stop();
    a = await startNode({ endpoints: etcd.endpoints });
    assert.ok(a.node.cache.size >= 20, 'the restarted node listed the sessions');
    for (const sessionId of ids) assert.equal((await a.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('after a forced compaction and a watch cut, the cache relists and stays correct', async () => {
    const proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    const c = await startNode({ endpoints: [proxy.url], config: 'cache.max-staleness=1s' });
    try {
      const keep = (await login(a, 'keep')).sessionId;
      const gone = (await login(a, 'gone')).sessionId;
      await eventually(() => c.node.cache.get(hashSessionId(gone)));
      const relists = c.node.feed.stats.relists;

      proxy.set('cut');
      await eventually(() => c.node.feed.state === 'down', { what: 'C to notice the cut' });
      await a.api.end({ sessionId: gone });
      const fresh = (await login(a, 'fresh')).sessionId;
      const client = etcd.client();
      const rev = Number((await client.get('/anything').exec()).header.revision);
      await client.put('/sm-test-bump').value('x'); // a revision past the delete, so the compaction covers it
      await client.kv.compact({ revision: rev + 1, physical: true });
      client.close();
      proxy.set('pass');

      await eventually(() => c.node.feed.stats.relists > relists && c.node.feed.state === 'live', { timeoutMs: 15_000, what: 'relist' });
      assert.equal(c.node.cache.get(hashSessionId(gone)), undefined, 'the session ended during the cut is gone');
      assert.ok(c.node.cache.get(hashSessionId(fresh)), 'the session created during the cut is there');
      await eventually(async () => (await c.api.validate({ sessionId: keep })).verdict === Verdict.VERDICT_VALID);
      assert.equal((await c.api.validate({ sessionId: gone })).verdict, Verdict.VERDICT_NOT_FOUND);
    } finally {
      await c.stop();
      await proxy.stop();
    }
  });
});
