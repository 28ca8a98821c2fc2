import assert from 'node:assert/strict';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { ClientType, EndReason, SessionState } from '../../src/gen/sessionmanager/v1/session.js';
import { EventType, type WatchEventsResponse } from '../../src/gen/sessionmanager/v1/admin_service.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { EtcdCluster } from '../support/etcd.js';
import { adminOf, adminTokenFile } from '../support/cluster.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

describe('rule 10: forced logout and the admin API', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const { token, file } = adminTokenFile();

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'adm-a', node: { adminTokenFile: file } });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'adm-b', node: { adminTokenFile: file } });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  const login = (user: string, type = ClientType.CLIENT_TYPE_MOBILE, site = 'default') =>
    a.api.create({ site, user, clientType: type, deviceId: `${user}-${Math.random()}`, attributes: {} });

  it('admin calls need the admin credential: none or a wrong one → PERMISSION_DENIED', async () => {
    for (const t of [undefined, 'wrong-token-wrong-token']) {
      const adm = adminOf(a, t);
      const f = await failure(adm.list({ site: '', user: '', clientType: 0, state: 0, pageSize: 0, pageToken: '' }));
      assert.deepEqual([f.code, f.reason], [status.PERMISSION_DENIED, 'ADMIN_CREDENTIAL_REQUIRED']);
      adm.close();
    }
  });

  it('lists with filters and opaque page tokens', async () => {
    for (let i = 0; i < 7; i++) await login(`lister`, ClientType.CLIENT_TYPE_MOBILE, 'acme');
    await login('lister', ClientType.CLIENT_TYPE_API, 'acme');
    await login('someone-else', ClientType.CLIENT_TYPE_MOBILE, 'acme');
    const adm = adminOf(b, token);
    try {
      const filter = { site: 'acme', user: 'lister', clientType: ClientType.CLIENT_TYPE_MOBILE, state: SessionState.SESSION_STATE_ACTIVE };
      const seen = new Set<string>();
      let pageToken = '';
      let pages = 0;
      await eventually(async () => (await adm.list({ ...filter, pageSize: 100, pageToken: '' })).sessions.length === 7);
      do {
        const r = await adm.list({ ...filter, pageSize: 3, pageToken });
        assert.ok(r.sessions.length <= 3);
        for (const s of r.sessions) {
          assert.equal(s.session?.user, 'lister');
          assert.equal(s.session?.clientType, ClientType.CLIENT_TYPE_MOBILE);
          seen.add(s.sessionRef);
        }
        pageToken = r.nextPageToken;
        pages++;
      } while (pageToken);
      assert.equal(seen.size, 7);
      assert.equal(pages, 3);
      const bad = await failure(adm.list({ ...filter, pageSize: 3, pageToken: 'garbage!' }));
      assert.deepEqual([bad.code, bad.reason], [status.INVALID_ARGUMENT, 'INVALID_PAGE_TOKEN']);
      // A negative page size is refused, not silently taken as the default; 0 still means the default.
      const negative = await failure(adm.list({ ...filter, pageSize: -1, pageToken: '' }));
      assert.deepEqual([negative.code, negative.reason], [status.INVALID_ARGUMENT, 'INVALID_PAGE_SIZE']);
      assert.equal((await adm.list({ ...filter, pageSize: 0, pageToken: '' })).sessions.length, 7);
    } finally {
      adm.close();
    }
  });

  it('revokes one session, and all of a user’s sessions (REVOKED), on every node', async () => {
    const s1 = await login('victim');
    const s2 = await login('victim');
    const s3 = await login('victim');
    const adm = adminOf(b, token);
    try {
      const list = await eventually(async () => {
        const r = await adm.list({ site: 'default', user: 'victim', clientType: 0, state: 0, pageSize: 10, pageToken: '' });
        return r.sessions.length === 3 ? r : undefined;
      });
      const one = list.sessions[0]!.sessionRef;
      await adm.revoke({ sessionRef: one });
      const notFound = await failure(adm.revoke({ sessionRef: one }));
      assert.equal(notFound.code, status.NOT_FOUND);
      const r = await adm.revokeUser({ site: 'default', user: 'victim' });
      assert.equal(r.revoked, 2);
      for (const s of [s1, s2, s3]) {
        for (const n of [a, b]) {
          await eventually(async () => (await n.api.validate({ sessionId: s.sessionId })).verdict === Verdict.VERDICT_NOT_FOUND);
        }
      }
    } finally {
      adm.close();
    }
  });

  it('GetClusterStatus reports nodes, the scavenger leader, the config version and counts', async () => {
    await login('counted', ClientType.CLIENT_TYPE_WIDGET, 'globex');
    const adm = adminOf(a, token);
    try {
      const st = await eventually(async () => {
        const r = await adm.status({});
        return r.nodes.length === 2 && r.scavengerLeader ? r : undefined;
      });
      assert.deepEqual(st.nodes.map((n) => n.nodeId).sort(), ['adm-a', 'adm-b']);
      assert.ok(['adm-a', 'adm-b'].includes(st.scavengerLeader));
      assert.equal(st.configVersion, a.node.service ? st.configVersion : '');
      assert.match(st.configVersion, /^[0-9a-f]{12}$/);
      const c = st.sessionCounts.find((x) => x.site === 'globex' && x.clientType === ClientType.CLIENT_TYPE_WIDGET);
      assert.equal(c?.count, 1);
    } finally {
      adm.close();
    }
  });
});

describe('rule 18: a resumable event stream', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const { token, file } = adminTokenFile();

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'ev-a', node: { adminTokenFile: file } });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'ev-b', node: { adminTokenFile: file } });
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  function collect(stream: ClientReadableStream<WatchEventsResponse>, into: WatchEventsResponse[]): void {
    stream.on('data', (e: WatchEventsResponse) => into.push(e));
    stream.on('error', () => {});
  }

  /** Waits until a "from now" stream is live: logs in markers until one's CREATED event arrives, then forgets them. */
  async function live(n: TestNode, got: WatchEventsResponse[]): Promise<void> {
    let k = 0;
    await eventually(async () => {
      const user = `marker-${Date.now()}-${k++}`;
      const { sessionId } = await n.api.create({ site: 'default', user, clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd', attributes: {} });
      await n.api.end({ sessionId });
      return eventually(() => got.some((e) => e.user === user), { timeoutMs: 300 }).catch(() => false);
    }, { what: 'the event stream to be live' });
    got.length = 0;
  }

  it('a consumer disconnected during 1000 logins/logouts resumes from its token and gets every event once, in order', async () => {
    const adm = adminOf(b, token);
    const got: WatchEventsResponse[] = [];
    let stream = adm.watchEvents({ resumeToken: '' });
    collect(stream, got);
    await live(b, got);
    const expected: string[] = [];
    const work = (async () => {
      for (let i = 0; i < 500; i++) {
        const n = i % 2 ? a : b;
        const { sessionId, session } = await n.api.create({ site: 'default', user: `ev-${i}`, clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd', attributes: {} });
        expected.push(`CREATED:ev-${i}`);
        await n.api.end({ sessionId });
        expected.push(`ENDED:ev-${i}`);
        void session;
      }
    })();
    await eventually(() => got.length >= 200, { timeoutMs: 20_000 });
    const closed = new Promise((r) => stream.on('close', r));
    stream.cancel(); // the consumer goes away mid-stream…
    await closed; // (nothing more arrives on it)
    const token1 = got[got.length - 1]!.resumeToken;
    // Stay away while the work goes on: at least 50 more events happen before the consumer resumes.
    const seenAtCancel = got.length;
    await eventually(() => expected.length >= Math.min(1000, seenAtCancel + 50), { timeoutMs: 20_000, what: 'events to happen while disconnected' });
    stream = adm.watchEvents({ resumeToken: token1 }); // …and resumes from its last token
    collect(stream, got);
    await work;
    await eventually(() => got.length >= expected.length, { timeoutMs: 30_000, what: `all ${expected.length} events (got ${got.length})` });
    await new Promise((r) => setTimeout(r, 300)); // a negative check: no duplicate may arrive late
    stream.cancel();
    adm.close();
    const seen = got.map((e) => `${e.type === EventType.EVENT_TYPE_CREATED ? 'CREATED' : 'ENDED'}:${e.user}`);
    assert.equal(seen.length, expected.length, 'no duplicates, nothing missing');
    assert.deepEqual(seen, expected, 'in order');
    assert.ok(got.filter((e) => e.type === EventType.EVENT_TYPE_ENDED).every((e) => e.endReason === EndReason.END_REASON_LOGGED_OUT));
    assert.equal(new Set(got.map((e) => e.resumeToken)).size, got.length);
  });

  it('replacement and re-authentication are events too; bad tokens are refused', async () => {
    const adm = adminOf(a, token);
    const got: WatchEventsResponse[] = [];
    const stream = adm.watchEvents({ resumeToken: '' });
    collect(stream, got);
    await live(a, got);
    const s1 = await a.api.create({ site: 'default', user: 'rep', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} });
    const s2 = await a.api.create({ site: 'default', user: 'rep', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc2', attributes: {} });
    await a.api.reauthenticate({ sessionId: s2.sessionId, user: 'rep' });
    await eventually(() => got.length >= 4);
    stream.cancel();
    // REPLACED and the new CREATED share one txn (one revision) and are ordered by key: compare kinds as a multiset.
    assert.deepEqual(
      got.map((e) => e.type).sort(),
      [EventType.EVENT_TYPE_CREATED, EventType.EVENT_TYPE_REPLACED, EventType.EVENT_TYPE_CREATED, EventType.EVENT_TYPE_REAUTHENTICATED].sort(),
    );
    assert.equal(got[0]!.type, EventType.EVENT_TYPE_CREATED);
    assert.equal(got[3]!.type, EventType.EVENT_TYPE_REAUTHENTICATED);
    const replaced = got.find((e) => e.type === EventType.EVENT_TYPE_REPLACED)!;
    assert.equal(replaced.endReason, EndReason.END_REASON_REPLACED);
    assert.ok(replaced.successorRef);
    void s1;
    const bad = adm.watchEvents({ resumeToken: 'not-a-token' });
    const f = await failure(new Promise((res, rej) => (bad.on('error', rej), bad.on('data', res))));
    assert.deepEqual([f.code, f.reason], [status.INVALID_ARGUMENT, 'INVALID_RESUME_TOKEN']);
    adm.close();
  });
});
