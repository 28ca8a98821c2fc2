import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { ClientType, EndReason, SessionState } from '../../src/gen/sessionmanager/v1/session.js';
import { EndMySessionsRequest_Scope, Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { hashSessionId } from '../../src/app/ids.js';
import { hashLoginToken } from '../../src/app/login-tokens.js';
import { decideResume } from '../../src/domain/login-family.js';
import { decodeEvent } from '../../src/store/etcd/codec.js';
import { decodeFamily } from '../../src/store/etcd/login-family-store.js';
import { SessionClient } from '@session-manager/client';
import { adminOf, adminTokenFile } from '../support/cluster.js';
import { EtcdCluster } from '../support/etcd.js';
import { OffsetClock } from '../support/fake-clock.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { CapturedLogs, dumpKeyspace, leakedIds, startCapturedNode, type CapturedNode } from '../property/support.js';

const PREFIX = '/pl/';
const CONFIG = 'session.persistent.reuse-grace=1s\nsession.persistent.types=web,mobile,desktop\n';
const DAY = 86_400_000;

type Api = TestNode['api'];
const login = (api: Api, user: string, device = 'd1', type = ClientType.CLIENT_TYPE_MOBILE, site = 'default') =>
  api.create({ site, user, clientType: type, deviceId: device, attributes: {}, persistent: true });

describe('persistent logins and own sessions on three nodes over a three-member etcd (SPEC rules 19, 20)', function () {
  this.timeout(180_000);
  let etcd: EtcdCluster;
  let nodes: Array<TestNode | CapturedNode>;
  let kv: Etcd3;
  const logs = new CapturedLogs();
  const secrets = new Set<string>();
  const admin = adminTokenFile();
  const keep = <T extends { sessionId: string; loginToken: string }>(r: T): T => {
    secrets.add(r.sessionId);
    if (r.loginToken) secrets.add(r.loginToken);
    return r;
  };
  const api = (i: number): Api => nodes[i % nodes.length]!.api;

  before(async () => {
    etcd = await EtcdCluster.start({ size: 3 });
    nodes = [
      await startCapturedNode({ endpoints: etcd.endpoints, logs, config: CONFIG, prefix: PREFIX, nodeId: 'pl-a' }),
      await startNode({ endpoints: etcd.endpoints, config: CONFIG, prefix: PREFIX, nodeId: 'pl-b', node: { adminTokenFile: admin.file } }),
      await startNode({ endpoints: etcd.endpoints, config: CONFIG, prefix: PREFIX, nodeId: 'pl-c' }),
    ];
    kv = new Etcd3({ hosts: etcd.endpoints });
  });
  after(async () => {
    kv?.close();
    await Promise.allSettled((nodes ?? []).map((n) => n.stop()));
    await etcd?.stop();
  });

  const family = async (token: string) => {
    const id = (await kv.get(`${PREFIX}lt/${hashLoginToken(token)}`).string())!;
    return decodeFamily((await kv.get(`${PREFIX}lf/${id}`).buffer())!);
  };
  const notFoundEverywhere = (sessionId: string) =>
    eventually(async () => {
      for (const n of nodes) if ((await n.api.validate({ sessionId })).verdict !== Verdict.VERDICT_NOT_FOUND) return false;
      return true;
    }, { what: 'session gone on every node' });
  const eventsOf = async (type: string, sessionIds: string[]) => {
    const refs = new Set(sessionIds.map(hashSessionId));
    const all = await kv.getAll().prefix(`${PREFIX}e/`).buffers();
    return Object.values(all).map((v) => decodeEvent(v)).filter((e) => e && e.type === type && refs.has(e.sessionRef));
  };
  const endEvents = (sessionIds: string[]) => eventsOf('ENDED', sessionIds);

  it('issues a 256-bit URL-safe token with a persistent login; the session is marked persistent', async () => {
    const r = keep(await login(api(0), 'issue'));
    assert.match(r.loginToken, /^[A-Za-z0-9_-]{43}$/);
    const plain = keep(await api(1).create({ site: 'default', user: 'issue', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd2', attributes: {} }));
    assert.equal(plain.loginToken, '');
    const mine = await api(2).listMine({ sessionId: r.sessionId });
    assert.deepEqual(mine.sessions.map((s) => [s.deviceId, s.persistent]).sort(), [['d1', true], ['d2', false]]);
  });

  it('a chain of 100 resumes across nodes: each returns a new session and token, every predecessor is spent, the family intact', async () => {
    let r = keep(await login(api(0), 'chain'));
    const tokens = [r.loginToken];
    const sessions = [r.sessionId];
    for (let i = 0; i < 100; i++) {
      r = keep(await api(i).resume({ loginToken: r.loginToken, deviceId: 'd1' }));
      tokens.push(r.loginToken);
      sessions.push(r.sessionId);
    }
    assert.equal(new Set(tokens).size, 101);
    assert.equal((await api(1).validate({ sessionId: r.sessionId })).verdict, Verdict.VERDICT_VALID);
    const f = await family(r.loginToken);
    assert.equal(f.revokedAt, undefined);
    assert.equal(f.current, hashLoginToken(r.loginToken));
    assert.equal(f.sessions.length, 101);
    // Past the grace every predecessor is refused (as reuse) by the stored family.
    for (const t of tokens.slice(0, -1)) assert.equal(decideResume(f, hashLoginToken(t), 'd1', Date.now() + 2000, 1000).kind, 'reused');
    assert.equal(decideResume(f, hashLoginToken(r.loginToken), 'd1', Date.now(), 1000).kind, 'resume');
  });

  it('reuse: a copied token presented after the owner resumed revokes the family and its sessions on every node (TOKEN_REUSED)', async () => {
    const first = keep(await login(api(0), 'victim'));
    const owner = keep(await api(1).resume({ loginToken: first.loginToken, deviceId: 'd1' }));
    // The thief presents the copy after the grace.
    const thief = await eventually(async () => {
      const e = await failure(api(2).resume({ loginToken: first.loginToken, deviceId: 'd1' })).catch(() => null);
      return e && e.reason === 'LOGIN_TOKEN_REUSED' ? e : null;
    }, { timeoutMs: 10_000, what: 'reuse detected after the grace' });
    assert.equal(thief.code, status.FAILED_PRECONDITION);
    await notFoundEverywhere(first.sessionId);
    await notFoundEverywhere(owner.sessionId);
    assert.equal((await failure(api(0).resume({ loginToken: owner.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_REUSED');
    const ev = await endEvents([first.sessionId, owner.sessionId]);
    assert.equal(ev.length, 2);
    assert.ok(ev.every((e) => e!.endReason === 'TOKEN_REUSED'));
    // Lifecycle events for issue, resume and the reuse revocation, all naming the family.
    const [issued] = await eventsOf('CREATED', [first.sessionId]);
    const [resumed] = await eventsOf('CREATED', [owner.sessionId]);
    assert.equal(issued?.login, 'ISSUED');
    assert.equal(resumed?.login, 'RESUMED');
    assert.ok(issued.loginFamily && ev.every((e) => e!.loginFamily === issued.loginFamily) && resumed.loginFamily === issued.loginFamily);
  });

  it('reuse: the owner presenting after the thief resumed ends the thief’s session everywhere', async () => {
    const first = keep(await login(api(1), 'victim2'));
    const stolen = keep(await api(2).resume({ loginToken: first.loginToken, deviceId: 'd1' }));
    await eventually(async () => (await failure(api(0).resume({ loginToken: first.loginToken, deviceId: 'd1' }).then(keep)).catch(() => ({ reason: 'OK' }))).reason === 'LOGIN_TOKEN_REUSED', {
      timeoutMs: 10_000,
      what: 'owner triggers reuse detection',
    });
    await notFoundEverywhere(stolen.sessionId);
    assert.equal((await failure(api(1).resume({ loginToken: stolen.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_REUSED');
  });

  it('two concurrent resumes within the grace get the same successor and no revocation', async () => {
    const first = keep(await login(api(0), 'tabs', 'd1', ClientType.CLIENT_TYPE_WEB));
    const [x, y] = await Promise.all([api(1).resume({ loginToken: first.loginToken, deviceId: 'd1' }), api(2).resume({ loginToken: first.loginToken, deviceId: 'd1' })]);
    keep(x);
    assert.equal(x.loginToken, y.loginToken);
    assert.equal(x.sessionId, y.sessionId);
    assert.equal((await api(0).validate({ sessionId: x.sessionId })).verdict, Verdict.VERDICT_VALID);
    const next = keep(await api(0).resume({ loginToken: x.loginToken, deviceId: 'd1' }));
    assert.equal((await api(1).validate({ sessionId: next.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('EndSession(forget_login) revokes the family; a plain logout keeps it', async () => {
    const a = keep(await login(api(0), 'forget'));
    await api(1).end({ sessionId: a.sessionId });
    const b = keep(await api(2).resume({ loginToken: a.loginToken, deviceId: 'd1' }));
    await api(0).end({ sessionId: b.sessionId, forgetLogin: true });
    await notFoundEverywhere(b.sessionId);
    assert.equal((await failure(api(1).resume({ loginToken: b.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_NOT_FOUND');
  });

  it('admin RevokeUserSessions and RevokeSession also revoke the token families', async () => {
    const adm = adminOf(nodes[1] as TestNode, admin.token);
    const a = keep(await login(api(0), 'rev'));
    await adm.revokeUser({ site: 'default', user: 'rev' });
    assert.equal((await failure(api(2).resume({ loginToken: a.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_NOT_FOUND');
    const b = keep(await login(api(0), 'rev1'));
    const handle = (await api(0).get({ sessionId: b.sessionId })).session!.handle;
    const listed = await adm.list({ site: 'default', user: 'rev1', pageSize: 10, pageToken: '', clientType: 0, state: 0 });
    const ref = listed.sessions.find((s) => s.session?.handle === handle)?.sessionRef;
    assert.ok(ref, 'admin list shows the session');
    await adm.revoke({ sessionRef: ref });
    assert.equal((await failure(api(2).resume({ loginToken: b.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_NOT_FOUND');
  });

  it('RevokeUserSessions racing ResumeSession: no resumed session or token escapes (20 trials)', async () => {
    const adm = adminOf(nodes[1] as TestNode, admin.token);
    let resumedFirst = 0;
    for (let i = 0; i < 20; i++) {
      const user = `race-revoke-${i}`;
      const a = keep(await login(api(i), user));
      const [re] = await Promise.allSettled([api(i + 1).resume({ loginToken: a.loginToken, deviceId: 'd1' }), adm.revokeUser({ site: 'default', user })]);
      if (re.status === 'fulfilled') {
        resumedFirst++;
        keep(re.value);
        await notFoundEverywhere(re.value.sessionId);
        assert.notEqual((await failure(api(i + 2).resume({ loginToken: re.value.loginToken, deviceId: 'd1' }))).code, 0);
      }
      await notFoundEverywhere(a.sessionId);
      assert.equal((await adm.list({ site: 'default', user, pageSize: 10, pageToken: '', clientType: 0, state: 0 })).sessions.length, 0);
    }
    void resumedFirst;
  });

  it('own sessions: the list shows exactly the user’s sessions at the site, current once; "end others" leaves only the caller’s', async () => {
    const mine = [
      keep(await login(api(0), 'own', 'd1')),
      keep(await login(api(1), 'own', 'd2')),
      keep(await api(2).create({ site: 'default', user: 'own', clientType: ClientType.CLIENT_TYPE_API, deviceId: 'd3', attributes: {} })),
    ];
    keep(await login(api(0), 'someone-else'));
    keep(await login(api(0), 'own', 'd9', ClientType.CLIENT_TYPE_MOBILE, 'other-site'));
    const list = await api(2).listMine({ sessionId: mine[1]!.sessionId });
    assert.equal(list.sessions.length, 3);
    assert.equal(list.sessions.filter((s) => s.current).length, 1);
    assert.equal(list.sessions.find((s) => s.current)!.deviceId, 'd2');
    assert.ok(list.sessions.every((s) => s.state === SessionState.SESSION_STATE_ACTIVE));
    const ended = await api(0).endMine({ sessionId: mine[1]!.sessionId, scope: EndMySessionsRequest_Scope.SCOPE_OTHERS });
    assert.equal(ended.ended, 2);
    await notFoundEverywhere(mine[0]!.sessionId);
    await notFoundEverywhere(mine[2]!.sessionId);
    assert.deepEqual((await api(1).listMine({ sessionId: mine[1]!.sessionId })).sessions.map((s) => s.deviceId), ['d2']);
    // The other device cannot come back with its token either.
    assert.equal((await failure(api(1).resume({ loginToken: mine[0]!.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_NOT_FOUND');
    // One by handle, then the bad handle.
    const d4 = keep(await login(api(2), 'own', 'd4'));
    const h = (await api(0).listMine({ sessionId: mine[1]!.sessionId })).sessions.find((s) => s.deviceId === 'd4')!.handle;
    assert.equal((await api(0).endMine({ sessionId: mine[1]!.sessionId, scope: EndMySessionsRequest_Scope.SCOPE_ONE, handle: h })).ended, 2 - 1);
    await notFoundEverywhere(d4.sessionId);
    assert.equal((await failure(api(0).endMine({ sessionId: mine[1]!.sessionId, scope: EndMySessionsRequest_Scope.SCOPE_ONE, handle: h }))).reason, 'SESSION_HANDLE_NOT_FOUND');
    assert.equal((await failure(api(0).endMine({ sessionId: mine[1]!.sessionId, scope: EndMySessionsRequest_Scope.SCOPE_UNSPECIFIED }))).code, status.INVALID_ARGUMENT);
  });

  it('own sessions: a racing Reauthenticate cannot keep an ended session alive', async () => {
    for (let round = 0; round < 5; round++) {
      const user = `race-${round}`;
      const me = keep(await login(api(0), user, 'd1'));
      const other = keep(await login(api(1), user, 'd2'));
      const [, re] = await Promise.allSettled([
        api(2).endMine({ sessionId: me.sessionId, scope: EndMySessionsRequest_Scope.SCOPE_OTHERS }),
        api(round).reauthenticate({ sessionId: other.sessionId, user }),
      ]);
      await notFoundEverywhere(other.sessionId);
      if (re.status === 'fulfilled') {
        secrets.add(re.value.sessionId);
        await notFoundEverywhere(re.value.sessionId);
      }
      assert.equal((await api(1).validate({ sessionId: me.sessionId })).verdict, Verdict.VERDICT_VALID);
    }
  });

  it('bad input: malformed tokens, another device, persistent where it is off — stable reasons, nothing written', async () => {
    const good = keep(await login(api(0), 'bad'));
    const before = await kv.getAll().prefix(`${PREFIX}l`).keys();
    const sessionsBefore = (await kv.getAll().prefix(`${PREFIX}s/`).keys()).length;
    const cases: Array<[string, () => Promise<unknown>, number, string]> = [
      ['empty token', () => api(0).resume({ loginToken: '', deviceId: 'd1' }), status.INVALID_ARGUMENT, 'MALFORMED_LOGIN_TOKEN'],
      ['malformed token', () => api(1).resume({ loginToken: 'not a token!', deviceId: 'd1' }), status.INVALID_ARGUMENT, 'MALFORMED_LOGIN_TOKEN'],
      ['oversized token', () => api(2).resume({ loginToken: 'a'.repeat(4096), deviceId: 'd1' }), status.INVALID_ARGUMENT, 'MALFORMED_LOGIN_TOKEN'],
      ['unknown token', () => api(0).resume({ loginToken: 'a'.repeat(43), deviceId: 'd1' }), status.NOT_FOUND, 'LOGIN_TOKEN_NOT_FOUND'],
      ['empty device', () => api(1).resume({ loginToken: good.loginToken, deviceId: '' }), status.INVALID_ARGUMENT, 'INVALID_FIELD'],
      ['another device', () => api(2).resume({ loginToken: good.loginToken, deviceId: 'd2' }), status.FAILED_PRECONDITION, 'LOGIN_TOKEN_DEVICE_MISMATCH'],
      ['persistent on api', () => login(api(0), 'bad', 'd1', ClientType.CLIENT_TYPE_API), status.FAILED_PRECONDITION, 'PERSISTENT_LOGIN_NOT_ALLOWED'],
      ['persistent on an unknown site', () => login(api(0), 'bad', 'd1', ClientType.CLIENT_TYPE_MOBILE, ''), status.INVALID_ARGUMENT, 'INVALID_FIELD'],
    ];
    for (const [name, p, code, reason] of cases) {
      const e = await failure(p());
      assert.equal(e.code, code, name);
      assert.equal(e.reason, reason, name);
    }
    assert.deepEqual(await kv.getAll().prefix(`${PREFIX}l`).keys(), before);
    assert.equal((await kv.getAll().prefix(`${PREFIX}s/`).keys()).length, sessionsBefore);
    // The good token still works: refusals spent nothing.
    keep(await api(1).resume({ loginToken: good.loginToken, deviceId: 'd1' }));
  });

  it('the client package has the calls typed: persistent login, resume, list and end own sessions, forget', async () => {
    const client = new SessionClient({ endpoints: nodes.map((n) => n.address) });
    try {
      const a = await client.createSession({ site: 'default', user: 'pkg', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd1', persistent: true });
      keep({ sessionId: a.sessionId, loginToken: a.loginToken ?? '' });
      const r = await client.resumeSession(a.loginToken!, 'd1');
      keep(r);
      const mine = await client.listMySessions(r.sessionId);
      assert.equal(mine.filter((s) => s.current).length, 1);
      const other = await client.createSession({ site: 'default', user: 'pkg', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd2' });
      keep({ sessionId: other.sessionId, loginToken: '' });
      assert.equal(await client.endMySessions(r.sessionId, 'others'), 1);
      await client.endSession(r.sessionId, { forgetLogin: true });
      await assert.rejects(client.resumeSession(r.loginToken, 'd1'), { reason: 'LOGIN_TOKEN_NOT_FOUND' } as object);
    } finally {
      client.close();
    }
  });

  it('tokens survive a node restart and work on the new node', async () => {
    const a = keep(await login(api(0), 'restart'));
    await nodes[2]!.stop();
    nodes[2] = await startNode({ endpoints: etcd.endpoints, config: CONFIG, prefix: PREFIX, nodeId: 'pl-c2' });
    const r = keep(await nodes[2].api.resume({ loginToken: a.loginToken, deviceId: 'd1' }));
    assert.equal((await api(0).validate({ sessionId: r.sessionId })).verdict, Verdict.VERDICT_VALID);
  });

  it('secrets scan: no login token or session id in etcd keys or values, or in the logs', async () => {
    assert.ok(secrets.size > 200);
    assert.deepEqual(leakedIds(secrets, [dumpKeyspace(etcd.endpoints)]), []);
    assert.deepEqual(leakedIds(secrets, [logs.text]), []);
  });
});

describe('persistent logins on an injected clock: lifetime, inactivity, the Spotfire flow', function () {
  this.timeout(60_000);
  let etcd: EtcdCluster;
  let n: TestNode;
  const clock = new OffsetClock();

  before(async () => {
    etcd = await EtcdCluster.start();
    n = await startNode({ endpoints: etcd.endpoints, clock, prefix: '/plc/', config: 'session.timeout.absolute=60\nsession.timeout.web=never\n' });
  });
  after(async () => {
    await n?.stop();
    await etcd?.stop();
  });

  it('a family unused for the idle limit (14 d) is expired: LOGIN_TOKEN_EXPIRED, NOT_FOUND', async () => {
    const a = await login(n.api, 'idle');
    clock.advance(13 * DAY);
    const b = await n.api.resume({ loginToken: a.loginToken, deviceId: 'd1' }); // use resets the idle limit
    clock.advance(13 * DAY);
    const c = await n.api.resume({ loginToken: b.loginToken, deviceId: 'd1' });
    clock.advance(14 * DAY + 1000);
    const e = await failure(n.api.resume({ loginToken: c.loginToken, deviceId: 'd1' }));
    assert.equal(e.code, status.NOT_FOUND);
    assert.equal(e.reason, 'LOGIN_TOKEN_EXPIRED');
    // The scavenger removes the expired family; its token is then unknown.
    const familyKeys = () => n.node.etcd.client.getAll().prefix('/plc/lf/').count();
    const before = await familyKeys();
    await eventually(() => n.node.scavenger.state === 'leading', { what: 'scavenger elected' });
    const report = await n.node.scavenger.cycle();
    assert.ok((report?.loginFamiliesRemoved ?? 0) >= 1, JSON.stringify(report));
    assert.equal(await familyKeys(), before - (report?.loginFamiliesRemoved ?? 0));
    assert.equal((await failure(n.api.resume({ loginToken: c.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_NOT_FOUND');
  });

  it('a family past its lifetime (30 d) is expired although used daily', async () => {
    let r = await login(n.api, 'life');
    for (let d = 0; d < 29; d++) {
      clock.advance(DAY);
      r = await n.api.resume({ loginToken: r.loginToken, deviceId: 'd1' });
    }
    clock.advance(DAY + 1000);
    assert.equal((await failure(n.api.resume({ loginToken: r.loginToken, deviceId: 'd1' }))).reason, 'LOGIN_TOKEN_EXPIRED');
  });

  it('Spotfire: the absolute timeout passes, REAUTH_REQUIRED, the client resumes with its token instead of re-authenticating', async () => {
    const a = await login(n.api, 'spotfire', 'd1', ClientType.CLIENT_TYPE_WEB);
    clock.advance(61 * 60_000);
    assert.equal((await n.api.validate({ sessionId: a.sessionId })).verdict, Verdict.VERDICT_REAUTH_REQUIRED);
    const r = await n.api.resume({ loginToken: a.loginToken, deviceId: 'd1' });
    assert.equal((await n.api.validate({ sessionId: r.sessionId })).verdict, Verdict.VERDICT_VALID);
    // Same device, web (one session per user): the old session was replaced by the resumed one.
    assert.equal((await n.api.validate({ sessionId: a.sessionId })).verdict, Verdict.VERDICT_NOT_FOUND);
    void EndReason;
  });
});
