import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { IdMode, Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('rule 13: session ids, CLIENT_ADDRESS mode and bindings', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  let plain: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'sm-key-')), 'id.key');
    writeFileSync(keyFile, randomBytes(32));
    a = await startNode({ endpoints: etcd.endpoints, node: { idKeyFile: keyFile } });
    b = await startNode({ endpoints: etcd.endpoints, node: { idKeyFile: keyFile } });
    plain = await startNode({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop(), plain?.stop()]);
    await etcd?.stop();
  });

  const base = { site: 'default', user: 'kiosk', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'kiosk-1', attributes: {} };
  const client = { ip: '192.0.2.10', userAgent: 'Mozilla/5.0 (kiosk)' };

  it('tickets are 43 URL-safe characters and only their hash reaches etcd', async () => {
    const { sessionId } = await a.api.create(base);
    assert.match(sessionId, /^[A-Za-z0-9_-]{43}$/);
    const c = etcd.client();
    const all = await c.getAll().prefix('').exec();
    c.close();
    for (const kv of all.kvs) {
      assert.ok(!kv.key.toString().includes(sessionId), 'not in a key');
      assert.ok(!kv.value.toString('latin1').includes(sessionId), 'not in a value');
    }
  });

  it('CLIENT_ADDRESS: the id derives from site + IP + user agent with a keyed HMAC, on every node', async () => {
    const created = await a.api.create({ ...base, user: 'derived', idMode: IdMode.ID_MODE_CLIENT_ADDRESS, client });
    const v = await b.api.validate({ idMode: IdMode.ID_MODE_CLIENT_ADDRESS, site: 'default', client });
    assert.equal(v.verdict, Verdict.VERDICT_VALID);
    assert.equal(v.session?.user, 'derived');
    assert.equal((await b.api.validate({ sessionId: created.sessionId })).verdict, Verdict.VERDICT_VALID, 'the derived id works as a ticket too');
    const other = await b.api.validate({ idMode: IdMode.ID_MODE_CLIENT_ADDRESS, site: 'default', client: { ...client, ip: '192.0.2.11' } });
    assert.equal(other.verdict, Verdict.VERDICT_NOT_FOUND);
    const again = await failure(a.api.create({ ...base, user: 'derived', idMode: IdMode.ID_MODE_CLIENT_ADDRESS, client }));
    assert.deepEqual([again.code, again.reason], [status.ALREADY_EXISTS, 'SESSION_EXISTS']);
  });

  it('CLIENT_ADDRESS without a server key is refused; without IP or user agent is invalid', async () => {
    const f = await failure(plain.api.create({ ...base, idMode: IdMode.ID_MODE_CLIENT_ADDRESS, client }));
    assert.deepEqual([f.code, f.reason], [status.FAILED_PRECONDITION, 'ID_MODE_DISABLED']);
    const g = await failure(a.api.create({ ...base, idMode: IdMode.ID_MODE_CLIENT_ADDRESS, client: { ip: '', userAgent: 'x' } }));
    assert.deepEqual([g.code, g.reason], [status.INVALID_ARGUMENT, 'INVALID_FIELD']);
  });

  it('a ticket bound to IP and user agent refuses a mismatch with BINDING_MISMATCH, and counts no hit', async () => {
    const { sessionId } = await a.api.create({ ...base, user: 'bound', bindIp: true, bindUserAgent: true, client });
    assert.equal((await b.api.validate({ sessionId, client })).verdict, Verdict.VERDICT_VALID);
    assert.equal((await b.api.validate({ sessionId, client: { ...client, ip: '198.51.100.7' } })).verdict, Verdict.VERDICT_BINDING_MISMATCH);
    assert.equal((await b.api.validate({ sessionId, client: { ...client, userAgent: 'curl/8' } })).verdict, Verdict.VERDICT_BINDING_MISMATCH);
    assert.equal((await b.api.validate({ sessionId })).verdict, Verdict.VERDICT_BINDING_MISMATCH, 'a bound value must be presented');
    const s = await b.api.get({ sessionId, client }); // a bound session's every call presents its client
    assert.equal(s.session?.hitCount, 1);
    const ipOnly = await a.api.create({ ...base, user: 'ip-only', bindIp: true, client });
    assert.equal((await a.api.validate({ sessionId: ipOnly.sessionId, client: { ...client, userAgent: 'other' } })).verdict, Verdict.VERDICT_VALID);
  });
});
