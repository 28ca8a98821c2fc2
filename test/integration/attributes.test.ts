import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('rule 17: session data', function () {
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

  const login = () =>
    a.api.create({
      site: 'default',
      user: 'carol',
      clientType: ClientType.CLIENT_TYPE_WEB,
      deviceId: 'pc',
      attributes: { login: Buffer.from('sso') },
    });

  it('initial attributes are readable on another node, with an etag', async () => {
    const { sessionId } = await login();
    const r = await b.api.getAttribute({ sessionId, name: 'login' });
    assert.equal(r.attribute?.value.toString(), 'sso');
    assert.ok(r.attribute?.etag);
  });

  it('a write with a stale etag fails with ABORTED and changes nothing', async () => {
    const { sessionId } = await login();
    const e1 = (await a.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('1'), etag: '', createOnly: false })).etag;
    const e2 = (await b.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('2'), etag: e1, createOnly: false })).etag;
    assert.notEqual(e1, e2);
    const f = await failure(a.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('3'), etag: e1, createOnly: false }));
    assert.deepEqual([f.code, f.reason], [status.ABORTED, 'ETAG_MISMATCH']);
    const now = await a.api.getAttribute({ sessionId, name: 'cart' });
    assert.equal(now.attribute?.value.toString(), '2');
    assert.equal(now.attribute?.etag, e2);
  });

  it('concurrent writers with the same etag: exactly one wins', async () => {
    const { sessionId } = await login();
    const e = (await a.api.setAttribute({ sessionId, name: 'sel', value: Buffer.from('0'), etag: '', createOnly: false })).etag;
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).api.setAttribute({ sessionId, name: 'sel', value: Buffer.from(String(i + 1)), etag: e, createOnly: false }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    assert.equal(ok.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code: number }).code, status.ABORTED);
  });

  it('create-only refuses an existing name; delete honours the etag', async () => {
    const { sessionId } = await login();
    const f = await failure(a.api.setAttribute({ sessionId, name: 'login', value: Buffer.from('x'), etag: '', createOnly: true }));
    assert.deepEqual([f.code, f.reason], [status.ABORTED, 'ATTRIBUTE_EXISTS']);
    const d = await failure(a.api.deleteAttribute({ sessionId, name: 'login', etag: 'stale' }));
    assert.equal(d.code, status.ABORTED);
    await a.api.deleteAttribute({ sessionId, name: 'login', etag: '' });
    const g = await failure(b.api.getAttribute({ sessionId, name: 'login' }));
    assert.deepEqual([g.code, g.reason], [status.NOT_FOUND, 'ATTRIBUTE_NOT_FOUND']);
    assert.deepEqual((await a.api.get({ sessionId })).session?.attributeNames, []);
  });

  it('data is destroyed when the session ends', async () => {
    const { sessionId, session } = await login();
    await a.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('x'), etag: '', createOnly: false });
    await a.api.end({ sessionId });
    const client = etcd.client();
    const keys = await client.getAll().prefix(`/sm-test/a/`).keys();
    const idx = await client.getAll().prefix(`/sm-test/u/default/carol/`).keys();
    client.close();
    const hashPrefix = session!.handle;
    assert.equal(keys.filter((k) => k.includes(hashPrefix)).length, 0);
    assert.equal(idx.filter((k) => k.includes(hashPrefix)).length, 0);
    const g = await failure(a.api.getAttribute({ sessionId, name: 'login' }));
    assert.deepEqual([g.code, g.reason], [status.NOT_FOUND, 'SESSION_NOT_FOUND']);
  });

  it('all keys of a session share one lease', async () => {
    const { session } = await login();
    const client = etcd.client();
    const all = await client.getAll().prefix('/sm-test/').exec();
    client.close();
    const mine = all.kvs.filter((kv) => kv.key.toString().includes(session!.handle));
    assert.equal(mine.length, 3, 'record, user index, one attribute');
    const leases = new Set(mine.map((kv) => String(kv.lease)));
    assert.equal(leases.size, 1);
    assert.notEqual([...leases][0], '0');
  });
});
