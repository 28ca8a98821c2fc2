// Issue 10 item 8: bindings (SPEC rule 13) survive Reauthenticate, and every call that takes a session
// id checks them — Validate and Heartbeat answer BINDING_MISMATCH, the others fail with
// PERMISSION_DENIED / BINDING_MISMATCH. Records of the previous format (hashes salted with the id,
// no binding_salt) still work.
import assert from 'node:assert/strict';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { bindingHash, hashSessionId } from '../../src/app/ids.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { AttachResponse_Kind, Verdict, type AttachResponse, type ClientInfo } from '../../src/gen/sessionmanager/v1/session_service.js';
import { decodeSession, encodeSession } from '../../src/store/etcd/codec.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const HOME: ClientInfo = { ip: '203.0.113.7', userAgent: 'Firefox/140' };
const THIEF: ClientInfo = { ip: '198.51.100.66', userAgent: 'Firefox/140' };

/** Opens an Attach stream; resolves on ATTACHED, rejects with the stream's error. */
function attach(n: TestNode, sessionId: string, client?: ClientInfo): Promise<ClientReadableStream<AttachResponse>> {
  const stream = n.api.attach({ sessionId, instanceId: 'w1', ...(client ? { client } : {}) });
  return new Promise((resolve, reject) => {
    stream.once('data', (m: AttachResponse) => (m.kind === AttachResponse_Kind.KIND_ATTACHED ? resolve(stream) : reject(new Error(`got ${m.kind}`))));
    stream.once('error', reject);
  });
}

describe('issue 10 item 8: bindings', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'bind-a' });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'bind-b' });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  const login = (user: string, clientType = ClientType.CLIENT_TYPE_WEB) =>
    a.api.create({ site: 'default', user, clientType, deviceId: 'pc', attributes: { cart: Buffer.from('1') }, client: HOME, bindIp: true, bindUserAgent: true });

  const verdict = async (n: TestNode, sessionId: string, client?: ClientInfo) => (await n.api.validate({ sessionId, ...(client ? { client } : {}) })).verdict;

  it('a bound session survives Reauthenticate: VALID from the same client, BINDING_MISMATCH from another', async () => {
    const { sessionId } = await login('bea');
    assert.equal(await verdict(b, sessionId, HOME), Verdict.VERDICT_VALID);
    assert.equal(await verdict(b, sessionId, THIEF), Verdict.VERDICT_BINDING_MISMATCH);
    const r = await b.api.reauthenticate({ sessionId, user: 'bea', client: HOME });
    for (const n of [a, b]) {
      await eventually(async () => (await verdict(n, r.sessionId, HOME)) === Verdict.VERDICT_VALID, { what: 'new id VALID from home' });
      assert.equal(await verdict(n, r.sessionId, THIEF), Verdict.VERDICT_BINDING_MISMATCH);
      assert.equal(await verdict(n, r.sessionId), Verdict.VERDICT_BINDING_MISMATCH, 'no client info: mismatch');
    }
  });

  it('every call that takes the session id refuses another client (and one without client info)', async () => {
    const { sessionId } = await login('ben');
    for (const client of [THIEF, undefined]) {
      const c = client ? { client } : {};
      assert.equal((await b.api.heartbeat({ sessionId, instanceId: 'tab', ...c })).verdict, Verdict.VERDICT_BINDING_MISMATCH, 'Heartbeat');
      const calls: Array<[string, Promise<unknown>]> = [
        ['GetSession', b.api.get({ sessionId, ...c })],
        ['GetAttribute', b.api.getAttribute({ sessionId, name: 'cart', ...c })],
        ['SetAttribute', b.api.setAttribute({ sessionId, name: 'cart', value: Buffer.from('stolen'), etag: '', createOnly: false, ...c })],
        ['DeleteAttribute', b.api.deleteAttribute({ sessionId, name: 'cart', etag: '', ...c })],
        ['Reauthenticate', b.api.reauthenticate({ sessionId, user: 'ben', ...c })],
        ['Attach', attach(b, sessionId, client)],
      ];
      for (const [name, call] of calls) {
        const e = await failure(call);
        assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'BINDING_MISMATCH'], name);
      }
    }
    // Nothing was changed by the refused calls; the owner's calls all work.
    assert.equal((await b.api.getAttribute({ sessionId, name: 'cart', client: HOME })).attribute?.value.toString(), '1');
    assert.equal((await b.api.heartbeat({ sessionId, instanceId: 'tab', client: HOME })).verdict, Verdict.VERDICT_VALID);
    await b.api.get({ sessionId, client: HOME });
    await b.api.setAttribute({ sessionId, name: 'x', value: Buffer.from('2'), etag: '', createOnly: false, client: HOME });
    await b.api.deleteAttribute({ sessionId, name: 'x', etag: '', client: HOME });
    const r = await b.api.reauthenticate({ sessionId, user: 'ben', client: HOME });
    assert.equal(await verdict(a, r.sessionId, HOME), Verdict.VERDICT_VALID);
  });

  it('Attach checks bindings too (desktop session)', async () => {
    const { sessionId } = await login('bo', ClientType.CLIENT_TYPE_DESKTOP);
    const e = await failure(attach(a, sessionId, THIEF));
    assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'BINDING_MISMATCH']);
    const s = await attach(a, sessionId, HOME);
    s.cancel();
  });

  it('a record of the previous format (hashes salted with the id, no salt) still works and moves to a salt on Reauthenticate', async () => {
    const { sessionId } = await login('leo');
    const hash = hashSessionId(sessionId);
    const key = `/sm-test/s/${hash}`;
    const c = etcd.client();
    try {
      const kv = (await c.get(key).exec()).kvs[0]!;
      const rec = decodeSession(kv.value);
      const legacy = { ...rec, binding: { ipHash: bindingHash(sessionId, 'ip', HOME.ip), userAgentHash: bindingHash(sessionId, 'ua', HOME.userAgent) } };
      await c.put(key).value(Buffer.from(encodeSession(legacy))).lease(String(kv.lease)).exec();
    } finally {
      c.close();
    }
    for (const n of [a, b]) await eventually(() => n.node.cache.get(hash)?.rec.binding.salt === undefined, { what: 'mirrors hold the old format' });
    assert.equal(await verdict(b, sessionId, HOME), Verdict.VERDICT_VALID);
    assert.equal(await verdict(b, sessionId, THIEF), Verdict.VERDICT_BINDING_MISMATCH);
    const r = await a.api.reauthenticate({ sessionId, user: 'leo', client: HOME });
    await eventually(async () => (await verdict(b, r.sessionId, HOME)) === Verdict.VERDICT_VALID);
    assert.equal(await verdict(b, r.sessionId, THIEF), Verdict.VERDICT_BINDING_MISMATCH);
    assert.ok(b.node.cache.get(hashSessionId(r.sessionId))?.rec.binding.salt, 'the new record has a salt');
  });

  it('EndSession checks the bindings too: a stolen bound ticket cannot log its owner out; the owner can', async () => {
    const { sessionId } = await login('lou');
    for (const client of [THIEF, undefined]) {
      const e = await failure(b.api.end({ sessionId, ...(client ? { client } : {}) }));
      assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'BINDING_MISMATCH']);
    }
    assert.equal(await verdict(a, sessionId, HOME), Verdict.VERDICT_VALID, 'nothing ended');
    await b.api.end({ sessionId, client: HOME });
    assert.equal(await verdict(a, sessionId, HOME), Verdict.VERDICT_NOT_FOUND);
  });
});
