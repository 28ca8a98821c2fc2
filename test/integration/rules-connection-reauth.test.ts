import assert from 'node:assert/strict';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { ClientType, SessionState } from '../../src/gen/sessionmanager/v1/session.js';
import { AttachResponse_Kind, Verdict, type AttachResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { OffsetClock } from '../support/fake-clock.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

/** Opens an Attach stream and waits for ATTACHED. */
async function attach(n: TestNode, sessionId: string, instanceId = 'window-1'): Promise<ClientReadableStream<AttachResponse>> {
  const stream = n.api.attach({ sessionId, instanceId });
  stream.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    stream.once('data', (m: AttachResponse) => (m.kind === AttachResponse_Kind.KIND_ATTACHED ? resolve() : reject(new Error(`got ${m.kind}`))));
    stream.once('error', reject);
  });
  return stream;
}

describe('rule 6: connection-bound sessions (Elvis)', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const CONFIG = 'session.timeout.web=2s\nsession.connection.grace=3s\nsession.timeout.absolute=0';
  // One clock for every node of this cluster: a test moves it instead of sleeping (they never disagree).
  const clock = new OffsetClock();

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, config: CONFIG, clock, nodeId: 'elvis-a', node: { nodeLeaseTtlSeconds: 2 } });
    b = await startNode({ endpoints: etcd.endpoints, config: CONFIG, clock, nodeId: 'elvis-b', node: { nodeLeaseTtlSeconds: 2 } });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  const desktop = (n: TestNode, user: string) =>
    n.api.create({ site: 'default', user, clientType: ClientType.CLIENT_TYPE_DESKTOP, deviceId: 'mac', attributes: {} });

  it('a desktop session with Attach open survives far past the web timeout; closed → ends after the connection grace', async () => {
    const { sessionId } = await desktop(a, 'elvis');
    const stream = await attach(a, sessionId);
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.presenceMirror.hasConnection(hash), { what: 'B sees the connection' });
    // Far past the 2 s web timeout and the 3 s grace (4.5 s on the nodes' clock), with no requests at all:
    for (let t = 0; t < 4500; t += 500) {
      assert.equal((await b.api.get({ sessionId })).session?.state, SessionState.SESSION_STATE_ACTIVE);
      clock.advance(500);
    }
    stream.cancel();
    const closedAt = Date.now();
    await eventually(async () => (await b.api.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID, { timeoutMs: 10_000, what: 'end after grace' });
    assert.ok(Date.now() - closedAt >= 2900, 'not before the connection grace');
    const v = (await b.api.validate({ sessionId })).verdict;
    assert.ok(v === Verdict.VERDICT_EXPIRED || v === Verdict.VERDICT_NOT_FOUND);
  });

  it('re-attaching within the grace keeps the session', async () => {
    const { sessionId } = await desktop(a, 'priscilla');
    const hash = hashSessionId(sessionId);
    const s1 = await attach(a, sessionId);
    s1.cancel();
    // The detach has been recorded (connection lost now), then 1 s passes before the client re-attaches.
    await eventually(() => (a.node.cache.get(hash)?.rec.connectionLostAt ?? 0) > 0, { what: 'the detach to be recorded' });
    clock.advance(1000);
    const s2 = await attach(b, sessionId);
    await eventually(() => a.node.presenceMirror.hasConnection(hash), { what: 'A sees the new connection' });
    clock.advance(3500); // past the 3 s grace counted from the detach
    assert.equal((await a.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    s2.cancel();
  });

  it('the node holding the stream dies → the session ends unless the client re-attaches elsewhere within the grace', async () => {
    const c = await startNode({ endpoints: etcd.endpoints, config: CONFIG, clock, nodeId: 'elvis-c', node: { nodeLeaseTtlSeconds: 2 } });
    const lost = await desktop(c, 'lisa');
    const kept = await desktop(c, 'marie');
    await attach(c, lost.sessionId);
    await attach(c, kept.sessionId);
    await eventually(() => a.node.presenceMirror.hasConnection(hashSessionId(kept.sessionId)));
    await c.node.kill(); // no goodbye: its node lease expires on its own
    c.api.close();
    await eventually(() => !a.node.presenceMirror.hasConnection(hashSessionId(lost.sessionId)), { timeoutMs: 8000, what: 'lease expiry' });
    const re = await attach(b, kept.sessionId); // the client of `kept` reconnects to another replica
    await eventually(async () => (await a.api.validate({ sessionId: lost.sessionId })).verdict !== Verdict.VERDICT_VALID, {
      timeoutMs: 10_000,
      what: 'the abandoned session to end',
    });
    assert.equal((await a.api.validate({ sessionId: kept.sessionId })).verdict, Verdict.VERDICT_VALID);
    re.cancel();
  });

  it('Attach on an unknown session fails NOT_FOUND', async () => {
    const stream = a.api.attach({ sessionId: 'A'.repeat(43), instanceId: 'w' });
    const f = await failure(new Promise((resolve, reject) => (stream.on('error', reject), stream.on('data', resolve))));
    assert.deepEqual([f.code, f.reason], [status.NOT_FOUND, 'SESSION_NOT_FOUND']);
  });
});

describe('rule 3: absolute timeout and re-authentication (Spotfire)', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const CONFIG = 'session.timeout.absolute=3s\nsession.timeout.web=30';

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, config: CONFIG });
    b = await startNode({ endpoints: etcd.endpoints, config: CONFIG });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('absolute timeout → REAUTH_REQUIRED with data intact → Reauthenticate → new id works, old refused everywhere', async () => {
    const { sessionId } = await a.api.create({
      site: 'default',
      user: 'ana',
      clientType: ClientType.CLIENT_TYPE_WEB,
      deviceId: 'pc',
      attributes: { report: Buffer.from('q3') },
    });
    await a.api.validate({ sessionId });
    await a.api.validate({ sessionId });
    await eventually(async () => (await b.api.validate({ sessionId })).verdict === Verdict.VERDICT_REAUTH_REQUIRED, { timeoutMs: 8000 });
    assert.equal((await a.api.getAttribute({ sessionId, name: 'report' })).attribute?.value.toString(), 'q3', 'data kept');
    assert.equal((await a.api.get({ sessionId })).session?.state, SessionState.SESSION_STATE_REAUTH_REQUIRED);

    const wrong = await failure(a.api.reauthenticate({ sessionId, user: 'mallory' }));
    assert.deepEqual([wrong.code, wrong.reason], [status.FAILED_PRECONDITION, 'USER_MISMATCH']);

    const r = await a.api.reauthenticate({ sessionId, user: 'ana' });
    assert.notEqual(r.sessionId, sessionId);
    assert.equal(r.session?.state, SessionState.SESSION_STATE_ACTIVE);
    assert.equal((await b.api.validate({ sessionId: r.sessionId })).verdict, Verdict.VERDICT_VALID);
    assert.equal((await b.api.getAttribute({ sessionId: r.sessionId, name: 'report' })).attribute?.value.toString(), 'q3');
    for (const n of [a, b]) {
      await eventually(async () => (await n.api.validate({ sessionId })).verdict === Verdict.VERDICT_NOT_FOUND, { what: 'old id refused' });
    }
  });
});
