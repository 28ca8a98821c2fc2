// The client package's channel: retries only for idempotent calls (counted by the server),
// round_robin over two nodes, the bearer token on every call, deadlines, typed errors.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { AdminClient, ClientType, InvalidArgumentError, NotFoundError, SessionClient, UnavailableError, serviceConfig, targetOf } from '@session-manager/client';
import { adminTokenFile } from '../support/cluster.js';
import { EtcdCluster } from '../support/etcd.js';
import { FakeServer } from '../support/fake-session-server.js';
import { startNode, type TestNode } from '../support/nodes.js';

describe('client package: channel, retries, credentials', function () {
  describe('against a counting stand-in server', function () {
    let fake: FakeServer;
    beforeEach(async () => {
      fake = new FakeServer();
      await fake.start();
    });
    afterEach(() => fake.stop());

    it('ValidateSession is retried on UNAVAILABLE: the server sees 3 calls and the caller one answer', async () => {
      const client = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, retry: { maxAttempts: 3, initialBackoffMs: 10 } });
      try {
        fake.failValidate = 2;
        const r = await client.validateSession({ sessionId: 'x' });
        assert.deepEqual(r, { valid: false, verdict: 'EXPIRED' });
        assert.equal(fake.calls['ValidateSession'], 3);
        fake.failValidate = 5;
        await assert.rejects(client.validateSession({ sessionId: 'x' }), (e: unknown) => e instanceof UnavailableError && e.reason === 'STORE_UNAVAILABLE');
        assert.equal(fake.calls['ValidateSession'], 6, 'at most maxAttempts calls');
      } finally {
        client.close();
      }
    });

    it('CreateSession is never retried: one call on the server, UnavailableError for the caller', async () => {
      const client = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, retry: { maxAttempts: 5, initialBackoffMs: 10 } });
      try {
        await assert.rejects(
          client.createSession({ site: 'default', user: 'u', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' }),
          (e: unknown) => e instanceof UnavailableError && e.reason === 'STORE_UNAVAILABLE' && e.code === status.UNAVAILABLE,
        );
        assert.equal(fake.calls['CreateSession'], 1);
      } finally {
        client.close();
      }
    });

    it('the bearer token goes on every call, unary and streaming; a token file is re-read when it changes', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sm-client-token-'));
      const file = join(dir, 'token');
      writeFileSync(file, 'first-token\n');
      const client = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, token: { file } });
      try {
        await client.validateSession({ sessionId: 'x' });
        await client.createSession({ site: 's', user: 'u', deviceId: 'd' }).catch(() => undefined);
        await new Promise<void>((resolve, reject) => client.attach('x', 'i').on('error', reject).on('end', resolve).resume());
        writeFileSync(file, 'second-token-longer\n');
        await client.validateSession({ sessionId: 'x' });
        assert.deepEqual(fake.auth, ['Bearer first-token', 'Bearer first-token', 'Bearer first-token', 'Bearer second-token-longer']);
      } finally {
        client.close();
      }
      let n = 0;
      const fn = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, token: async () => `fn-${++n}` });
      try {
        await fn.validateSession({ sessionId: 'x' });
        await fn.validateSession({ sessionId: 'x' });
        assert.deepEqual(fake.auth.slice(-2), ['Bearer fn-1', 'Bearer fn-2']);
      } finally {
        fn.close();
      }
      // A token that cannot be read fails the call before anything is sent.
      const broken = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, token: { file: join(dir, 'missing') } });
      const before = fake.auth.length;
      try {
        await assert.rejects(broken.validateSession({ sessionId: 'x' }), { name: 'UnauthenticatedError' });
        assert.equal(fake.auth.length, before);
      } finally {
        broken.close();
      }
    });

    it('a call past its deadline rejects with UnavailableError (DEADLINE_EXCEEDED) on time; close() ends the client', async () => {
      const client = new SessionClient({ endpoints: `127.0.0.1:${fake.port}`, deadlineMs: 300 });
      fake.hang = true;
      const t0 = Date.now();
      await assert.rejects(client.validateSession({ sessionId: 'x' }), (e: unknown) => e instanceof UnavailableError && e.reason === 'DEADLINE_EXCEEDED');
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
      client.close();
      await assert.rejects(client.validateSession({ sessionId: 'x' }));
    });
  });

  it('the service config balances round_robin and retries only the idempotent calls', () => {
    const sc = serviceConfig() as { loadBalancingConfig: unknown; methodConfig: Array<{ name: Array<{ method: string }> }> };
    assert.deepEqual(sc.loadBalancingConfig, [{ round_robin: {} }]);
    const methods = sc.methodConfig.flatMap((m) => m.name.map((n) => n.method)).sort();
    assert.deepEqual(methods, ['GetAttribute', 'GetClusterStatus', 'GetSession', 'Heartbeat', 'ListSessions', 'ValidateSession']);
    assert.equal(targetOf('sm-headless.ns.svc:50051'), 'dns:///sm-headless.ns.svc:50051');
    assert.equal(targetOf(['10.0.0.1:50051', '10.0.0.2:50051']), 'ipv4:10.0.0.1:50051,10.0.0.2:50051');
    assert.equal(targetOf('unix:/run/sm.sock'), 'unix:/run/sm.sock');
    assert.throws(() => targetOf(['a.example:1', 'b.example:1']), /literals/);
    assert.throws(() => new SessionClient({ endpoints: 'x:1', retry: { maxAttempts: 9 } }), /maxAttempts/);
  });

  describe('against two real nodes', function () {
    let etcd: EtcdCluster;
    let a: TestNode;
    let b: TestNode;
    let token: string;
    before(async () => {
      etcd = await EtcdCluster.start();
      const admin = adminTokenFile();
      token = admin.token;
      a = await startNode({ endpoints: etcd.endpoints, nodeId: 'rr-a', node: { adminTokenFile: admin.file } });
      b = await startNode({ endpoints: etcd.endpoints, nodeId: 'rr-b', node: { adminTokenFile: admin.file } });
    });
    after(async () => {
      await Promise.allSettled([a?.stop(), b?.stop()]);
      await etcd?.stop();
    });

    it('round_robin spreads calls over both nodes (counted on each node)', async () => {
      const endpoints = [a.address, b.address];
      const client = new SessionClient({ endpoints, token });
      const admin = new AdminClient({ endpoints, token });
      try {
        const { sessionId } = await client.createSession({ site: 'default', user: 'rr', clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd' });
        const count = (n: TestNode) => n.node.service.stats.verdicts.VALID;
        const [a0, b0] = [count(a), count(b)];
        for (let i = 0; i < 20; i++) assert.equal((await client.validateSession({ sessionId })).valid, true);
        const [da, db] = [count(a) - a0, count(b) - b0];
        assert.equal(da + db, 20);
        assert.ok(da >= 5 && db >= 5, `validates per node: ${da} / ${db}`);
        // The AdminClient shares the channel setup; GetClusterStatus answers from either node.
        const st = await admin.getClusterStatus();
        assert.deepEqual(st.nodes.map((n) => n.nodeId).sort(), ['rr-a', 'rr-b']);
      } finally {
        client.close();
        admin.close();
      }
    });

    it('errors are typed classes carrying the ErrorInfo reason', async () => {
      const client = new SessionClient({ endpoints: a.address });
      try {
        await assert.rejects(client.getSession('garbage'), (e: unknown) => e instanceof InvalidArgumentError && e.reason === 'MALFORMED_SESSION_ID' && e.domain === 'sessionmanager.v1');
        const { sessionId } = await client.createSession({ site: 'default', user: 'err', clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd' });
        await assert.rejects(client.getAttribute(sessionId, 'nope'), (e: unknown) => e instanceof NotFoundError && e.reason === 'ATTRIBUTE_NOT_FOUND');
        await client.endSession(sessionId);
        await assert.rejects(client.getSession(sessionId), (e: unknown) => e instanceof NotFoundError && e.reason === 'SESSION_NOT_FOUND');
        assert.deepEqual(await client.validateSession({ sessionId }), { valid: false, verdict: 'NOT_FOUND' });
        const admin = new AdminClient({ endpoints: a.address, token: 'wrong' });
        await assert.rejects(admin.getClusterStatus(), { reason: 'ADMIN_CREDENTIAL_REQUIRED' });
        admin.close();
      } finally {
        client.close();
      }
    });
  });
});
