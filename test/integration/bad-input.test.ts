import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { generateSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('bad input: clear errors, no crash, no partial write', function () {
  let etcd: EtcdCluster;
  let n: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    n = await startNode({
      endpoints: etcd.endpoints,
      config: 'session.sites=acme,globex\nsession.attributes.max-bytes=1024\nsession.attributes.max-count=3',
    });
  });
  after(async () => {
    await n?.stop();
    await etcd?.stop();
  });

  async function keyCount(): Promise<number> {
    const c = etcd.client();
    try {
      return (await c.getAll().prefix('/sm-test/').keys()).length;
    } finally {
      c.close();
    }
  }

  const good = { site: 'acme', user: 'dave', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} };

  const badIds = ['', 'short', 'x'.repeat(44), 'x'.repeat(10_000), 'a'.repeat(42) + '/', '\u{1F600}'.repeat(20)];
  for (const sessionId of badIds) {
    const label = JSON.stringify(sessionId.slice(0, 12)) + (sessionId.length > 12 ? '…' : '');
    it(`malformed id ${label} → INVALID_ARGUMENT on every call`, async () => {
      const calls = [
        n.api.validate({ sessionId }),
        n.api.heartbeat({ sessionId, instanceId: 'tab' }),
        n.api.get({ sessionId }),
        n.api.end({ sessionId }),
        n.api.getAttribute({ sessionId, name: 'a' }),
        n.api.setAttribute({ sessionId, name: 'a', value: Buffer.from('v'), etag: '', createOnly: false }),
        n.api.deleteAttribute({ sessionId, name: 'a', etag: '' }),
      ];
      for (const c of calls) {
        const f = await failure(c);
        assert.deepEqual([f.code, f.reason], [status.INVALID_ARGUMENT, 'MALFORMED_SESSION_ID']);
      }
    });
  }

  it('a well-formed unknown id: validate says NOT_FOUND, get fails NOT_FOUND', async () => {
    const sessionId = generateSessionId();
    assert.equal((await n.api.validate({ sessionId })).verdict, Verdict.VERDICT_NOT_FOUND);
    assert.equal((await n.api.heartbeat({ sessionId, instanceId: 't' })).verdict, Verdict.VERDICT_NOT_FOUND);
    const f = await failure(n.api.get({ sessionId }));
    assert.deepEqual([f.code, f.reason], [status.NOT_FOUND, 'SESSION_NOT_FOUND']);
    const e = await failure(n.api.end({ sessionId }));
    assert.equal(e.code, status.NOT_FOUND);
  });

  const badCreates: Array<[string, object, number, string]> = [
    ['unspecified client type', { clientType: ClientType.CLIENT_TYPE_UNSPECIFIED }, status.INVALID_ARGUMENT, 'UNKNOWN_CLIENT_TYPE'],
    ['unknown client type number', { clientType: 99 }, status.INVALID_ARGUMENT, 'UNKNOWN_CLIENT_TYPE'],
    ['negative client type number', { clientType: -5 }, status.INVALID_ARGUMENT, 'UNKNOWN_CLIENT_TYPE'],
    ['unknown site', { site: 'initech' }, status.NOT_FOUND, 'SITE_NOT_FOUND'],
    ['empty site', { site: '' }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ['empty user', { user: '' }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ['huge user', { user: 'u'.repeat(300) }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ['control characters in user', { user: 'a\nb' }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ['empty device', { deviceId: '' }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ['oversized attribute', { attributes: { big: Buffer.alloc(1025) } }, status.RESOURCE_EXHAUSTED, 'ATTRIBUTE_TOO_LARGE'],
    ['too many attributes', { attributes: { a: Buffer.from('1'), b: Buffer.from('1'), c: Buffer.from('1'), d: Buffer.from('1') } }, status.RESOURCE_EXHAUSTED, 'TOO_MANY_ATTRIBUTES'],
    ['empty attribute name', { attributes: { '': Buffer.from('1') } }, status.INVALID_ARGUMENT, 'INVALID_FIELD'],
  ];
  for (const [name, patch, code, reason] of badCreates) {
    it(`create with ${name} → ${status[code]} ${reason}, nothing written`, async () => {
      const before = await keyCount();
      const f = await failure(n.api.create({ ...good, ...patch } as typeof good));
      assert.deepEqual([f.code, f.reason], [code, reason]);
      assert.ok(f.message.length > 0);
      assert.equal(await keyCount(), before);
    });
  }

  it('unicode names are fine', async () => {
    const r = await n.api.create({ ...good, user: 'Zoë 山田', deviceId: 'ноутбук' });
    assert.equal((await n.api.get({ sessionId: r.sessionId })).session?.user, 'Zoë 山田');
  });

  it('attribute writes over the limits → RESOURCE_EXHAUSTED, nothing written', async () => {
    const { sessionId } = await n.api.create(good);
    const before = await keyCount();
    const big = await failure(n.api.setAttribute({ sessionId, name: 'x', value: Buffer.alloc(1025), etag: '', createOnly: false }));
    assert.deepEqual([big.code, big.reason], [status.RESOURCE_EXHAUSTED, 'ATTRIBUTE_TOO_LARGE']);
    for (const name of ['a', 'b', 'c']) await n.api.setAttribute({ sessionId, name, value: Buffer.from('v'), etag: '', createOnly: false });
    const many = await failure(n.api.setAttribute({ sessionId, name: 'd', value: Buffer.from('v'), etag: '', createOnly: false }));
    assert.deepEqual([many.code, many.reason], [status.RESOURCE_EXHAUSTED, 'TOO_MANY_ATTRIBUTES']);
    assert.equal(await keyCount(), before + 3);
  });

  it('a message over the max receive size → RESOURCE_EXHAUSTED, and the server stays up', async () => {
    const f = await failure(n.api.create({ ...good, attributes: { big: Buffer.alloc(5 * 1024 * 1024) } }));
    assert.equal(f.code, status.RESOURCE_EXHAUSTED);
    const ok = await n.api.create(good);
    assert.equal((await n.api.validate({ sessionId: ok.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('a heartbeat needs an instance id', async () => {
    const { sessionId } = await n.api.create(good);
    const f = await failure(n.api.heartbeat({ sessionId, instanceId: '' }));
    assert.deepEqual([f.code, f.reason], [status.INVALID_ARGUMENT, 'INVALID_FIELD']);
  });
});
