import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { HealthClient, HealthCheckResponse_ServingStatus as Serving } from '../../src/gen/grpc/health/v1/health.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { SessionNode } from '../../src/node/session-node.js';
import { SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { configOf, startNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';
import { FaultProxy } from '../support/proxy.js';
import { pino } from 'pino';

const MAIN = new URL('../../src/main.js', import.meta.url).pathname;

function healthOf(address: string, service = ''): Promise<Serving> {
  const c = new HealthClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    c.check({ service }, (err, res) => {
      c.close();
      if (err) reject(err);
      else resolve(res.status);
    }),
  );
}

describe('node lifecycle', function () {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => etcd?.stop());

  it('at start-up an invalid config file stops the process, naming every bad key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-cfg-'));
    const file = join(dir, 'cluster-config.properties');
    writeFileSync(file, 'session.timeout.desktop=0\nsession.hit-max=lots\nsession.bogus=1\n');
    const child = spawn(process.execPath, [MAIN, '--config', file, '--etcd-endpoints', etcd.endpoints[0]!, '--listen', '127.0.0.1:0']);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 78);
    for (const key of ['session.timeout.desktop', 'session.hit-max', 'session.bogus']) assert.ok(stderr.includes(key), `${key} in ${stderr}`);
  });

  it('health is NOT_SERVING until the cache is synced, then SERVING', async () => {
    const proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    proxy.set('cut');
    const node = new SessionNode({
      nodeId: 'late',
      listen: '127.0.0.1:0',
      etcd: { endpoints: [proxy.url], requestTimeoutMs: 500 },
      prefix: '/sm-test/',
      config: configOf(),
      logger: pino({ level: 'silent' }),
      allowAnonymous: true,
    });
    const started = node.start();
    try {
      await eventually(() => node.port > 0);
      const address = `127.0.0.1:${node.port}`;
      assert.equal(await healthOf(address), Serving.SERVING, 'liveness: the process is up');
      assert.equal(await healthOf(address, 'sessionmanager.v1.SessionService'), Serving.NOT_SERVING, 'readiness: not synced');
      const api = new SessionApi(address);
      const f = await failure(api.create({ site: 'default', user: 'x', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} }));
      assert.deepEqual([f.code, f.reason], [status.UNAVAILABLE, 'NOT_SERVING']);
      api.close();
      proxy.set('pass');
      await started;
      await eventually(async () => (await healthOf(address, 'sessionmanager.v1.SessionService')) === Serving.SERVING, { what: 'SERVING' });
    } finally {
      await node.stop();
      await proxy.stop();
    }
  });

  it('fails closed with UNAVAILABLE when etcd goes silent longer than cache.max-staleness, and recovers', async () => {
    const proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    const n = await startNode({ endpoints: [proxy.url], config: 'cache.max-staleness=1s' });
    try {
      const { sessionId } = await n.api.create({ site: 'default', user: 'hal', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
      // Two hits: the first two are compare-and-swapped in etcd (exact single-request rule); from the
      // third on a validate is answered from the mirror alone, which is what must fail closed here.
      for (let i = 0; i < 2; i++) assert.equal((await n.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
      proxy.set('stall');
      const f = await eventually(
        async () => {
          const r = await failure(n.api.validate({ sessionId })).catch(() => null);
          return r && r.code === status.UNAVAILABLE ? r : null;
        },
        { timeoutMs: 10_000, what: 'UNAVAILABLE' },
      );
      assert.equal(f.reason, 'CACHE_STALE');
      await eventually(async () => (await healthOf(n.address, 'sessionmanager.v1.SessionService')) === Serving.NOT_SERVING, { what: 'NOT_SERVING' });
      assert.equal(await healthOf(n.address), Serving.SERVING, 'liveness stays SERVING through an etcd outage');
      proxy.set('cut');
      proxy.set('pass');
      await eventually(async () => (await n.api.validate({ sessionId })).verdict === Verdict.VERDICT_VALID, { timeoutMs: 15_000, what: 'recovery' });
      await eventually(async () => (await healthOf(n.address, 'sessionmanager.v1.SessionService')) === Serving.SERVING, { what: 'SERVING' });
    } finally {
      await n.stop();
      await proxy.stop();
    }
  });

  it('SIGTERM: the process drains and exits 0, and its sessions live on', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN, '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', etcd.endpoints[0]!, '--etcd-prefix', '/sm-test/', '--node-id', 'sig', '--insecure-allow-anonymous'], {
      env: { ...process.env, SM_LOG_LEVEL: 'info' },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await eventually(() => out.includes('"serving"'), { timeoutMs: 15_000, what: 'child serving' });
    const api = new SessionApi(`127.0.0.1:${port}`);
    const { sessionId } = await api.create({ site: 'default', user: 'ivy', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
    assert.equal((await api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    api.close();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(out.includes('"stopped"'), out);
    assert.ok(!out.includes(sessionId), 'the session id never appears in the logs');
    const other = await startNode({ endpoints: etcd.endpoints });
    try {
      assert.equal((await other.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    } finally {
      await other.stop();
    }
  });
});
