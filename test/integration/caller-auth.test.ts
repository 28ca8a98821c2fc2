// SPEC rule 21: only authenticated callers, each limited to its method classes and sites. A real
// etcd, a real gRPC server over TLS on port 0, certificates from a throw-away openssl CA.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, Metadata, status, type ChannelCredentials } from '@grpc/grpc-js';
import type { WatchEventsResponse } from '../../src/gen/sessionmanager/v1/admin_service.js';
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from '../../src/gen/grpc/health/v1/health.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { AdminApi, SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { TestPki } from '../support/pki.js';
import { eventually } from '../support/poll.js';

const PREFIX = '/sm-auth/';
const WEB_ID = 'spiffe://cluster.local/ns/shop/sa/web';
const LOGIN_ID = 'spiffe://cluster.local/ns/shop/sa/login';
const WEB = { site: 'shop', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' } as const;

const token = (name: string) => `${name}-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}-token`;

describe('rule 21: only trusted callers (mTLS identities, bearer tokens, method classes, sites)', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  let pki: TestPki;
  let dir: string;
  let policyFile: string;
  const certs: Record<string, { cert: string; key: string }> = {};
  const tokens = { loginA: token('login-a'), loginB: token('login-b'), ops: token('ops'), siteA: token('site-a') };
  const clients: Array<{ close(): void }> = [];
  const policy = (webAllow: string[]) => ({
    callers: {
      web: { identities: [`uri:${WEB_ID}`], allow: webAllow, sites: ['shop'] },
      login: { identities: [`uri:${LOGIN_ID}`, 'dns:login.shop.svc'], tokenFiles: ['login-a.token', 'login-b.token'], allow: ['login', 'validate'], sites: ['shop'] },
      ops: { tokenFiles: ['ops.token'], allow: ['admin'], sites: '*' },
      'site-a': { tokenFiles: ['site-a.token'], allow: ['login', 'validate'], sites: ['a'] },
    },
  });

  before(async () => {
    etcd = await EtcdCluster.start();
    pki = new TestPki();
    dir = mkdtempSync(join(tmpdir(), 'sm-callers-'));
    certs['web'] = pki.issue('web', '/CN=web', [`subjectAltName=URI:${WEB_ID}`, 'extendedKeyUsage=clientAuth']);
    certs['login'] = pki.issue('login', '/CN=login', ['subjectAltName=DNS:login.shop.svc', 'extendedKeyUsage=clientAuth']);
    // A certificate whose CN is the login service's URI identity, with no SAN: it must not be the login service.
    certs['confused'] = pki.issue('confused', `/CN=${LOGIN_ID.replace(/\//g, '\\/')}`, ['extendedKeyUsage=clientAuth']);
    const other = new TestPki('untrusted-ca');
    certs['untrusted'] = other.issue('web', '/CN=web', [`subjectAltName=URI:${WEB_ID}`, 'extendedKeyUsage=clientAuth']);
    writeFileSync(join(dir, 'login-a.token'), tokens.loginA + '\n');
    writeFileSync(join(dir, 'ops.token'), tokens.ops + '\n');
    writeFileSync(join(dir, 'site-a.token'), tokens.siteA + '\n');
    policyFile = join(dir, 'callers.json');
    writeFileSync(policyFile, JSON.stringify(policy(['validate'])));
    n = await startNode({
      endpoints: etcd.endpoints,
      prefix: PREFIX,
      node: { tls: { ...pki.server(), clientCaFile: pki.ca }, allowAnonymous: false, policyFile, policyPollMs: 200, tokenRecheckMs: 0, healthListen: '127.0.0.1:0' },
    });
    n.api.close();
  });
  after(async () => {
    for (const c of clients) c.close();
    await n?.node.stop();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const creds = (who?: string): ChannelCredentials => TestPki.channel(pki.ca, who ? certs[who] : undefined);
  const api = (who?: string, tok?: string) => {
    const c = new SessionApi(n.address, { credentials: creds(who), timeoutMs: 5000, ...(tok ? { token: tok } : {}) });
    clients.push(c);
    return c;
  };
  const admin = (tok?: string, who?: string) => {
    const c = new AdminApi(n.address, tok, { credentials: creds(who), timeoutMs: 5000 });
    clients.push(c);
    return c;
  };
  const stored = async (kind: 's' | 'e' | 'lf') => n.node.etcd.client.getAll().prefix(`${PREFIX}${kind}/`).count();

  it('no credential, or a certificate from an untrusted CA → UNAUTHENTICATED CALLER_CREDENTIAL_REQUIRED, nothing written', async () => {
    const before = await stored('s');
    for (const c of [api(), api('untrusted')]) {
      const f = await failure(c.create({ ...WEB, user: 'anon' }));
      assert.deepEqual([f.code, f.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_REQUIRED']);
      const v = await failure(c.validate({ sessionId: 'x'.repeat(43) }));
      assert.deepEqual([v.code, v.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_REQUIRED']);
    }
    const a = await failure(admin().status({}));
    assert.deepEqual([a.code, a.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_REQUIRED']);
    assert.equal(await stored('s'), before);
  });

  it('an unknown token or a malformed authorization header → UNAUTHENTICATED CALLER_CREDENTIAL_INVALID', async () => {
    const f = await failure(api(undefined, token('nobody')).create({ ...WEB, user: 'x' }));
    assert.deepEqual([f.code, f.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_INVALID']);
    const raw = api();
    const md = new Metadata();
    md.set('authorization', `Basic ${tokens.loginA}`);
    const g = await failure(
      new Promise((resolve, reject) =>
        raw.raw.validateSession({ sessionId: 'x'.repeat(43), idMode: 0, site: '', client: undefined }, md, (err, res) => (err ? reject(err) : resolve(res))),
      ),
    );
    assert.deepEqual([g.code, g.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_INVALID']);
  });

  it('the gRPC health service stays open without any credential', async () => {
    const h = new HealthClient(n.address, creds());
    const res = await new Promise<{ status: Serving }>((resolve, reject) => h.check({ service: '' }, (err, r) => (err ? reject(err) : resolve(r))));
    assert.equal(res.status, Serving.SERVING);
    h.close();
    // The plaintext health-only listener (kubelet gRPC probes cannot speak TLS) serves health, nothing else.
    const plain = `127.0.0.1:${n.node.healthPort}`;
    const hp = new HealthClient(plain, credentials.createInsecure());
    const r2 = await new Promise<{ status: Serving }>((resolve, reject) => hp.check({ service: '' }, (err, r) => (err ? reject(err) : resolve(r))));
    assert.equal(r2.status, Serving.SERVING);
    hp.close();
    const f = await failure(new SessionApi(plain, { timeoutMs: 3000 }).validate({ sessionId: 'x'.repeat(43) }));
    assert.equal(f.code, status.UNIMPLEMENTED);
  });

  it('a validate-only identity (URI SAN) validates but cannot log in, log out or use admin: PERMISSION_DENIED, nothing written', async () => {
    const login = api('login');
    const { sessionId } = await login.create({ ...WEB, user: 'alice' });
    const web = api('web');
    assert.equal((await web.validate({ sessionId })).verdict, Verdict.VERDICT_VALID);
    assert.equal((await web.heartbeat({ sessionId, instanceId: 'tab' })).verdict, Verdict.VERDICT_VALID);
    await web.setAttribute({ sessionId, name: 'cart', value: Buffer.from('1'), etag: '', createOnly: false });
    assert.equal((await web.get({ sessionId })).session?.user, 'alice');

    const sessions = await stored('s');
    const events = await stored('e');
    const f = await failure(web.create({ ...WEB, user: 'mallory' }));
    assert.deepEqual([f.code, f.reason], [status.PERMISSION_DENIED, 'METHOD_NOT_ALLOWED']);
    for (const p of [web.end({ sessionId }), web.reauthenticate({ sessionId, user: 'alice' })]) {
      const e = await failure(p);
      assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'METHOD_NOT_ALLOWED']);
    }
    const a = await failure(admin(undefined, 'web').status({}));
    assert.deepEqual([a.code, a.reason], [status.PERMISSION_DENIED, 'METHOD_NOT_ALLOWED']);
    assert.equal(await stored('s'), sessions, 'no session written');
    assert.equal(await stored('e'), events, 'no event written');
    assert.equal((await web.validate({ sessionId })).verdict, Verdict.VERDICT_VALID, 'the session is still there');
  });

  it('a caller allowed site a cannot act on site b: not create there, nor validate, read, change or end a session there', async () => {
    const a = api(undefined, tokens.siteA);
    const { sessionId: mine } = await a.create({ site: 'a', user: 'ann', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' });
    assert.equal((await a.validate({ sessionId: mine })).verdict, Verdict.VERDICT_VALID);
    const before = await stored('s');
    const f = await failure(a.create({ site: 'b', user: 'bob', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' }));
    assert.deepEqual([f.code, f.reason], [status.PERMISSION_DENIED, 'SITE_NOT_ALLOWED']);
    assert.equal(await stored('s'), before, 'nothing written for site b');

    const { sessionId: theirs, session } = await api('login').create({ ...WEB, user: 'carol' });
    const hits = session!.hitCount;
    for (const p of [
      a.validate({ sessionId: theirs }),
      a.heartbeat({ sessionId: theirs, instanceId: 'x' }),
      a.get({ sessionId: theirs }),
      a.getAttribute({ sessionId: theirs, name: 'x' }),
      a.setAttribute({ sessionId: theirs, name: 'x', value: Buffer.from('1'), etag: '', createOnly: false }),
      a.end({ sessionId: theirs }),
      a.reauthenticate({ sessionId: theirs, user: 'carol' }),
    ]) {
      const e = await failure(p);
      assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'SITE_NOT_ALLOWED']);
    }
    const view = (await api('login').get({ sessionId: theirs })).session!;
    assert.equal(view.hitCount, hits, 'the refused validate counted no hit');
    assert.deepEqual(view.attributeNames, [], 'the refused write wrote nothing');
  });

  it('persistent logins and own sessions: a validate-only caller cannot resume or list/end own sessions; a site-a caller cannot use a site-b token or session', async () => {
    const login = api('login');
    const { sessionId, loginToken } = await login.create({ ...WEB, user: 'pat', persistent: true });
    const web = api('web');
    for (const p of [web.resume({ loginToken, deviceId: 'd' }), web.listMine({ sessionId }), web.endMine({ sessionId, scope: 1 })]) {
      const e = await failure(p);
      assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'METHOD_NOT_ALLOWED']);
    }
    const a = api(undefined, tokens.siteA);
    const before = await stored('lf');
    for (const p of [a.resume({ loginToken, deviceId: 'd' }), a.listMine({ sessionId }), a.endMine({ sessionId, scope: 1 })]) {
      const e = await failure(p);
      assert.deepEqual([e.code, e.reason], [status.PERMISSION_DENIED, 'SITE_NOT_ALLOWED']);
    }
    assert.equal(await stored('lf'), before, 'nothing written');
    // The token is unspent and the session alive: the refusals did nothing.
    const r = await login.resume({ loginToken, deviceId: 'd' });
    assert.equal((await login.listMine({ sessionId: r.sessionId })).sessions.filter((s) => s.current).length, 1);
  });

  it('a CN that spells a URI identity is not that identity (no SAN → cn:…, which no caller has)', async () => {
    const f = await failure(api('confused').create({ ...WEB, user: 'eve' }));
    assert.deepEqual([f.code, f.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_INVALID']);
  });

  it('token rotation: two tokens work side by side; deleting or emptying a token file disables its token at once', async () => {
    const oldApi = api(undefined, tokens.loginA);
    const newApi = api(undefined, tokens.loginB);
    await oldApi.create({ ...WEB, user: 'r1' });
    const pre = await failure(newApi.create({ ...WEB, user: 'r2' }));
    assert.equal(pre.reason, 'CALLER_CREDENTIAL_INVALID', 'the new token is not valid before its file exists');
    writeFileSync(join(dir, 'login-b.token'), tokens.loginB + '\n');
    await newApi.create({ ...WEB, user: 'r2' });
    await oldApi.create({ ...WEB, user: 'r3' }); // overlap: both valid
    unlinkSync(join(dir, 'login-a.token'));
    const gone = await failure(oldApi.create({ ...WEB, user: 'r4' }));
    assert.deepEqual([gone.code, gone.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_INVALID']);
    await newApi.create({ ...WEB, user: 'r5' });
    writeFileSync(join(dir, 'login-b.token'), '');
    const emptied = await failure(newApi.create({ ...WEB, user: 'r6' }));
    assert.equal(emptied.reason, 'CALLER_CREDENTIAL_INVALID');
    writeFileSync(join(dir, 'login-b.token'), tokens.loginB + '\n');
  });

  it('lifecycle events and GetClusterStatus name the caller and the policy; never a token', async () => {
    const ops = admin(tokens.ops);
    const st = await ops.status({});
    assert.equal(st.anonymousAllowed, false);
    assert.match(st.authPolicyVersion, /^[0-9a-f]{12}$/);
    assert.equal(st.authPolicyError, '');
    const got: WatchEventsResponse[] = [];
    const stream = ops.watchEvents({ resumeToken: '' });
    stream.on('data', (e: WatchEventsResponse) => got.push(e));
    stream.on('error', () => {});
    await new Promise((r) => setTimeout(r, 300)); // the stream starts from now
    const { sessionId } = await api('login').create({ ...WEB, user: 'audited' });
    await api('login').end({ sessionId });
    await eventually(() => got.filter((e) => e.user === 'audited').length >= 2);
    stream.cancel();
    assert.deepEqual(got.filter((e) => e.user === 'audited').map((e) => e.caller), ['login', 'login']);
    for (const t of Object.values(tokens)) assert.ok(!JSON.stringify(got).includes(t));
  });

  it('a policy change applies without a restart; an invalid policy is rejected whole and the last good one stays', async () => {
    const web = api('web');
    const ops = admin(tokens.ops);
    const v1 = (await ops.status({})).authPolicyVersion;
    writeFileSync(policyFile, JSON.stringify(policy(['validate', 'login'])));
    await eventually(async () => (await ops.status({})).authPolicyVersion !== v1);
    await web.create({ ...WEB, user: 'now-allowed' });

    let rejected = 0;
    n.node.events.on('auth-policy-rejected', () => rejected++);
    const bad = policy(['validate']) as { callers: Record<string, unknown> };
    bad.callers['web'] = { identities: [`uri:${WEB_ID}`], allow: ['validate', 'superuser'], sites: ['shop'] };
    writeFileSync(policyFile, JSON.stringify(bad));
    const st = await eventually(async () => {
      const s = await ops.status({});
      return s.authPolicyError ? s : undefined;
    });
    assert.match(st.authPolicyError, /superuser/);
    assert.equal(rejected, 1, 'counted once');
    await web.create({ ...WEB, user: 'still-allowed' }); // the last good policy (web may log in) stays
    writeFileSync(policyFile, '{ not json');
    await eventually(async () => /not valid JSON/.test((await ops.status({})).authPolicyError));
    await web.create({ ...WEB, user: 'still-allowed-2' });

    writeFileSync(policyFile, JSON.stringify(policy(['validate'])));
    await eventually(async () => (await ops.status({})).authPolicyError === '');
    const f = await failure(web.create({ ...WEB, user: 'denied-again' }));
    assert.equal(f.reason, 'METHOD_NOT_ALLOWED');
  });
});
