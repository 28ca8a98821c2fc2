import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { SessionApi } from '../../src/transport/grpc/client.js';
import { hashSessionId } from '../../src/app/ids.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';

const MAIN = new URL('../../src/main.js', import.meta.url).pathname;
const PREFIX = '/sm-scav/';
const CONFIG = 'session.scavenge.interval=1s\nsession.timeout.api=2s\nsession.touch.granularity=1s\nsession.timeout.single-request=0';

describe('rule 14: one elected, fenced scavenger', function () {
  let etcd: EtcdCluster;
  const children: Array<{ id: string; proc: ChildProcess; port: number }> = [];
  let configFile: string;

  before(async () => {
    etcd = await EtcdCluster.start();
    configFile = join(mkdtempSync(join(tmpdir(), 'sm-scav-')), 'cluster-config.properties');
    writeFileSync(configFile, CONFIG);
  });
  after(async () => {
    for (const c of children) c.proc.kill('SIGKILL');
    await etcd?.stop();
  });

  async function spawnNode(id: string): Promise<void> {
    const port = await freePort();
    const proc = spawn(
      process.execPath,
      [MAIN, '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', etcd.endpoints[0]!, '--etcd-prefix', PREFIX, '--node-id', id,
        '--config', configFile, '--election-ttl', '2', '--node-lease-ttl', '2', '--insecure-allow-anonymous'],
      { env: { ...process.env, OTEL_SDK_DISABLED: 'true', OTEL_METRICS_EXPORTER: 'none', SM_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    children.push({ id, proc, port });
    const api = new SessionApi(`127.0.0.1:${port}`, { timeoutMs: 2000 });
    try {
      await eventually(async () => api.validate({ sessionId: 'A'.repeat(43) }).then(() => true), { timeoutMs: 20_000, what: `${id} serving` });
    } finally {
      api.close();
    }
  }

  async function leader(): Promise<string | undefined> {
    const c = etcd.client();
    try {
      return await c.namespace(PREFIX).election('scavenger').leader();
    } finally {
      c.close();
    }
  }

  async function keyExists(key: string): Promise<boolean> {
    const c = etcd.client();
    try {
      return (await c.get(key).exec()).kvs.length > 0;
    } finally {
      c.close();
    }
  }

  it('three nodes: SIGKILL the leader → another leads within the election TTL and sweeps', async () => {
    for (const id of ['s1', 's2', 's3']) await spawnNode(id);
    const first = await eventually(leader, { what: 'a leader' });
    const api = new SessionApi(`127.0.0.1:${children.find((c) => c.id !== first)!.port}`);
    try {
      const victim = children.find((c) => c.id === first)!;
      victim.proc.kill('SIGKILL');
      const killedAt = Date.now();
      const second = await eventually(async () => {
        const l = await leader();
        return l && l !== first ? l : undefined;
      }, { timeoutMs: 10_000, what: 'a new leader' });
      const tookMs = Date.now() - killedAt;
      assert.ok(tookMs <= 2000 + 2500, `took ${tookMs} ms, election TTL is 2 s`);
      assert.notEqual(second, first);

      // Sessions that idle out are swept by the new leader (their keys disappear from etcd).
      const ids = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          api.create({ site: 'default', user: `idle-${i}`, clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd', attributes: {} }).then((r) => r.sessionId),
        ),
      );
      for (const id of ids) await eventually(async () => !(await keyExists(`${PREFIX}s/${hashSessionId(id)}`)), { timeoutMs: 12_000, what: 'sweep' });
      for (const id of ids) assert.equal((await api.validate({ sessionId: id })).verdict, Verdict.VERDICT_NOT_FOUND);
    } finally {
      api.close();
    }
  });

  it('a deposed leader’s writes are rejected by the fence', async () => {
    const a = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-fence/', config: CONFIG, nodeId: 'fa', node: { electionTtlSeconds: 1 } });
    const b = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-fence/', config: CONFIG, nodeId: 'fb', node: { electionTtlSeconds: 1 } });
    try {
      const [lead, other] = await eventually(() =>
        a.node.elector.fence ? [a, b] : b.node.elector.fence ? [b, a] : undefined,
      );
      const oldFence = lead.node.elector.fence!;
      // mobile: 60 min idle, so the real sweeps of this test's short config leave it alone
      const { sessionId } = await other.api.create({ site: 'default', user: 'v', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: {} });
      await lead.node.kill(); // leadership is lost without resigning; its campaign lease runs out
      await eventually(() => other.node.elector.fence, { timeoutMs: 8000, what: 'the other node elected' });
      const s = other.node.cache.get(hashSessionId(sessionId))!;
      const store = other.node.service.store;
      const r = await store.endFenced([{ s, reason: 'EXPIRED_IDLE' }], oldFence);
      assert.equal(r.fencedOut, true);
      assert.equal(r.ended.length, 0);
      assert.equal((await other.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID, 'nothing was written');
      // The validate above may still be writing its touch behind: write everything pending now, then read fresh.
      await other.node.touches.flush();
      const fresh = (await store.get(hashSessionId(sessionId))).session!;
      const ok = await store.endFenced([{ s: fresh, reason: 'REVOKED' }], other.node.elector.fence!);
      assert.equal(ok.fencedOut, false);
      assert.equal(ok.ended.length, 1, `changed: ${ok.changed}`);
    } finally {
      await Promise.allSettled([a.stop(), b.stop()]);
    }
  });

  it('a session touched a moment ago survives the sweep (per-session mod-revision compare)', async () => {
    const n = await startNode({ endpoints: etcd.endpoints, prefix: '/sm-touch/', config: CONFIG, nodeId: 'ta', node: { electionTtlSeconds: 1 } });
    try {
      await eventually(() => n.node.elector.fence);
      const { sessionId } = await n.api.create({ site: 'default', user: 't', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: {} });
      const stale = n.node.cache.get(hashSessionId(sessionId))!;
      await n.api.validate({ sessionId });
      await n.api.validate({ sessionId });
      await eventually(() => n.node.cache.get(hashSessionId(sessionId))!.version > stale.version);
      const store = n.node.service.store;
      const r = await store.endFenced([{ s: stale, reason: 'EXPIRED_IDLE' }], n.node.elector.fence!);
      assert.deepEqual([r.fencedOut, r.ended.length, r.changed], [false, 0, 1]);
      assert.equal((await n.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    } finally {
      await n.stop();
    }
  });
});
