import assert from 'node:assert/strict';
import { FileConfigSource, type FileConfigSourceOptions } from '../../src/config/file-source.js';
import { configVersionOf, loadConfigFile } from '../../src/config/loader.js';
import { forwardConfigEvents } from '../../src/config/reloadable-config.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { AdminApi } from '../../src/transport/grpc/client.js';
import { adminOf, adminTokenFile } from '../support/cluster.js';
import { EtcdCluster } from '../support/etcd.js';
import { KubeletDir } from '../support/kubelet-dir.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const FILE = 'cluster-config.properties';
const MIN = 60;

/** SPEC rule 16: the cluster config changes on a running node; new sessions get it, old ones keep theirs. */
describe('rule 16: live config reload from a mounted ConfigMap directory', function () {
  let etcd: EtcdCluster;
  let users = 0;
  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => etcd?.stop());

  /** A node whose config comes from a kubelet-style directory through a FileConfigSource. */
  interface Rig {
    mount: KubeletDir;
    source: FileConfigSource;
    node: TestNode;
    admin: AdminApi;
    applied: string[];
    rejected: (readonly string[])[];
    stop(): Promise<void>;
  }

  async function rig(text: string, options: Omit<FileConfigSourceOptions, 'path'>): Promise<Rig> {
    const mount = new KubeletDir({ [FILE]: text });
    const source = new FileConfigSource(await loadConfigFile(mount.path(FILE)), { path: mount.path(FILE), ...options });
    const admin = adminTokenFile();
    const node = await startNode({
      endpoints: etcd.endpoints,
      config: source,
      prefix: `/sm-cfg-${Math.random().toString(36).slice(2)}/`,
      node: { adminTokenFile: admin.file },
    });
    const applied: string[] = [];
    const rejected: (readonly string[])[] = [];
    // As start.ts does: outcomes go to node.events, which feed metrics and spans.
    forwardConfigEvents(source, node.node.events);
    node.node.events.on('config-applied', (v) => applied.push(v));
    node.node.events.on('config-rejected', (p) => rejected.push(p));
    source.start();
    const adminApi = adminOf(node, admin.token);
    return {
      mount,
      source,
      node,
      admin: adminApi,
      applied,
      rejected,
      async stop() {
        source.stop();
        adminApi.close();
        await node.stop();
        mount.remove();
      },
    };
  }

  /** Creates a web session for a new user and returns its id and its policy's idle timeout in minutes. */
  async function webSession(n: TestNode): Promise<{ id: string; idleMin: number }> {
    const { sessionId } = await n.api.create({ site: 'default', user: `cfg-user-${++users}`, clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
    return { id: sessionId, idleMin: await idleMinutes(n, sessionId) };
  }

  async function idleMinutes(n: TestNode, sessionId: string): Promise<number> {
    const { session } = await n.api.get({ sessionId });
    const d = session?.policy?.idleTimeout;
    assert.ok(d, 'the session has an idle timeout');
    return d.seconds / MIN;
  }

  it('a kubelet symlink swap is seen by the directory watch and applies to new sessions only', async () => {
    // A poll far longer than the deadline: only the directory watch can deliver this update in time.
    const r = await rig('session.timeout.web=30\n', { pollMs: 3_600_000 });
    try {
      const before = await webSession(r.node);
      assert.equal(before.idleMin, 30);
      const v0 = r.source.current().version;

      r.mount.update({ [FILE]: 'session.timeout.web=45\n' });
      const v1 = configVersionOf('session.timeout.web=45\n');
      await eventually(() => r.source.current().version === v1, { timeoutMs: 5000, what: 'the directory watch to apply the update' });

      assert.notEqual(v1, v0, 'the version changes with the content');
      assert.equal(r.source.current().policy.idleTimeoutMs.web, 45 * 60_000);
      assert.equal(r.source.lastError(), '');
      assert.deepEqual(r.applied, [v1]);
      assert.equal((await webSession(r.node)).idleMin, 45, 'a new session gets the new timeout');
      assert.equal(await idleMinutes(r.node, before.id), 30, 'an existing session keeps the policy it was created with');
      const st = await r.admin.status({});
      assert.deepEqual([st.configVersion, st.configError], [v1, '']);

      // The watch survives the swap (a watch on the file's inode would have died with the old directory).
      r.mount.update({ [FILE]: 'session.timeout.web=55\n' });
      const v2 = configVersionOf('session.timeout.web=55\n');
      await eventually(() => r.source.current().version === v2, { timeoutMs: 5000, what: 'the directory watch to apply a second update' });
      assert.deepEqual(r.applied, [v1, v2]);
      assert.equal((await webSession(r.node)).idleMin, 55);
    } finally {
      await r.stop();
    }
  });

  it('the content-hash poll alone picks a swap up within the poll interval', async () => {
    const pollMs = 300;
    const r = await rig('session.timeout.web=30\n', { pollMs, watchDirectory: false });
    try {
      const before = await webSession(r.node);
      const swappedAt = Date.now();
      r.mount.update({ [FILE]: 'session.timeout.web=45\n' });
      await eventually(() => r.source.current().policy.idleTimeoutMs.web === 45 * 60_000, { timeoutMs: pollMs + 2000, what: 'the poll to apply the update' });
      // One interval, plus the read and slack for a loaded test machine.
      assert.ok(Date.now() - swappedAt < pollMs + 1000, `applied ${Date.now() - swappedAt} ms after the swap`);
      assert.equal((await webSession(r.node)).idleMin, 45);
      assert.equal(await idleMinutes(r.node, before.id), 30);
    } finally {
      await r.stop();
    }
  });

  it('a bad update is rejected naming every bad key, the last good config stays, and a later good update applies', async () => {
    const r = await rig('session.timeout.web=45\n', { pollMs: 500 });
    try {
      const good = r.source.current().version;
      const old = await webSession(r.node);
      assert.equal(old.idleMin, 45);

      r.mount.update({ [FILE]: 'session.timeout.web=50\nsession.timeout.desktop=0\nsession.hit-max=x\n' });
      await eventually(() => r.source.lastError() !== '', { timeoutMs: 5000, what: 'the bad update to be rejected' });
      const error = r.source.lastError();
      for (const key of ['session.timeout.desktop', 'session.hit-max']) assert.ok(error.includes(key), `${key} in ${error}`);
      assert.ok(!error.includes('session.timeout.web'), 'a good key of a bad file is not named');
      assert.equal(r.source.current().version, good, 'the last good config stays in force');
      assert.equal(r.rejected.length, 1, 'reported once');
      assert.ok(r.rejected[0]!.some((p) => p.startsWith('session.timeout.desktop:')) && r.rejected[0]!.some((p) => p.startsWith('session.hit-max:')));
      assert.deepEqual(r.applied, []);
      assert.equal((await webSession(r.node)).idleMin, 45, 'new sessions still get the last good values, not the 50 of the bad file');
      const st = await r.admin.status({});
      assert.equal(st.configVersion, good);
      assert.ok(st.configError.includes('session.timeout.desktop') && st.configError.includes('session.hit-max'), st.configError);
      // The bad file is still there: later polls neither re-apply nor re-report it.
      assert.equal(await r.source.check(), 'unchanged');
      assert.equal(r.rejected.length, 1);

      r.mount.update({ [FILE]: 'session.timeout.web=50\nsession.timeout.desktop=-1\n' });
      const v2 = configVersionOf('session.timeout.web=50\nsession.timeout.desktop=-1\n');
      await eventually(() => r.source.current().version === v2, { timeoutMs: 5000, what: 'the good update to apply' });
      assert.equal(r.source.lastError(), '');
      assert.deepEqual(r.applied, [v2]);
      assert.equal((await webSession(r.node)).idleMin, 50);
      assert.equal(await idleMinutes(r.node, old.id), 45);
      assert.equal((await r.admin.status({})).configError, '');
    } finally {
      await r.stop();
    }
  });

  it('rewriting the same content changes nothing; a stopped source reads nothing', async () => {
    const text = 'session.timeout.web=30\n';
    const r = await rig(text, { pollMs: 500 });
    try {
      const v = r.source.current().version;
      r.mount.update({ [FILE]: text }); // new timestamped directory, same bytes
      assert.equal(await r.source.check(), 'unchanged');
      assert.equal(r.source.current().version, v);
      assert.deepEqual([r.applied, r.rejected], [[], []]);

      r.source.stop();
      assert.equal(r.source.state, 'stopped');
      r.mount.update({ [FILE]: 'session.timeout.web=60\n' });
      assert.equal(await r.source.check(), 'stopped');
      assert.equal(r.source.current().version, v);
    } finally {
      await r.stop();
    }
  });
});
