// The client package's web helpers against real nodes and etcd: Express middleware, Fastify plugin
// and the express-session Store, each in a real app on port 0.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import express from 'express';
import session from 'express-session';
import Fastify, { type FastifyInstance } from 'fastify';
import { ClientType, SessionClient } from '@session-manager/client';
import { heartbeatHandler, logout, sessionMiddleware, setSessionCookie } from '@session-manager/client/express';
import * as fast from '@session-manager/client/fastify';
import { SessionManagerStore } from '@session-manager/client/express-session';
import { EtcdCluster } from '../support/etcd.js';
import { Browser, listening } from '../support/http.js';
import { FaultProxy } from '../support/proxy.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const COOKIE = { secure: false } as const;

/** An Express app using the middleware the way the README shows. */
function expressApp(client: SessionClient): Server {
  const app = express();
  const opts = { client, cookie: COOKIE };
  app.post('/login', async (req, res) => {
    const { sessionId } = await client.createSession({
      site: 'default',
      user: String(req.query['user']),
      clientType: ClientType.CLIENT_TYPE_WEB,
      deviceId: 'browser',
      client: { ip: req.ip ?? '', userAgent: req.get('user-agent') ?? '' },
    });
    setSessionCookie(res, sessionId, COOKIE);
    res.status(204).end();
  });
  app.post('/logout', logout(opts));
  app.get('/alive.txt', heartbeatHandler(opts));
  app.get('/page', sessionMiddleware({ ...opts, onInvalid: (_req, res, _next, verdict) => (res as express.Response).redirect(`/login?why=${verdict}`) }), (_req, res) => {
    res.send('page');
  });
  app.get('/me', sessionMiddleware(opts), (req, res) => {
    const s = req.sessionManager;
    res.json({ user: s?.valid ? s.session.user : null });
  });
  return app.listen(0, '127.0.0.1');
}

/** A Fastify app: login and logout public, /me inside the plugin's scope. */
async function fastifyApp(client: SessionClient): Promise<FastifyInstance> {
  const app = Fastify();
  const opts = { client, cookie: COOKIE };
  app.post('/login', async (request, reply) => {
    const { sessionId } = await client.createSession({
      site: 'default',
      user: String((request.query as Record<string, string>)['user']),
      clientType: ClientType.CLIENT_TYPE_WEB,
      deviceId: 'browser',
      client: { ip: request.ip, userAgent: request.headers['user-agent'] ?? '' },
    });
    fast.setSessionCookie(reply, sessionId, COOKIE);
    return reply.code(204).send();
  });
  app.post('/logout', fast.logoutHandler(opts));
  app.get('/alive.txt', fast.heartbeatHandler(opts));
  await app.register(async (scope) => {
    await scope.register(fast.sessionManagerPlugin, opts);
    scope.get('/me', async (request) => ({ user: request.sessionManager?.valid ? request.sessionManager.session.user : null }));
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return app;
}

/** An Express app on express-session with the Store. */
function storeApp(client: SessionClient): { server: Server; store: SessionManagerStore } {
  const store = new SessionManagerStore({ client, site: 'default', clientType: 'web' });
  const app = express();
  app.use(session({ store, genid: store.genid, secret: 'test-secret', resave: false, saveUninitialized: false, cookie: { secure: false } }));
  app.post('/login', async (req, res) => {
    await store.login(req, { user: String(req.query['user']) });
    (req.session as unknown as { cart: string[] }).cart = ['apple'];
    res.json({ ok: true });
  });
  app.post('/cart', (req, res) => {
    const s = req.session as unknown as { cart?: string[] };
    if (!s.cart) return void res.status(401).json({ error: 'login first' });
    s.cart.push(String(req.query['item']));
    res.json({ cart: s.cart });
  });
  app.get('/cart', (req, res) => res.json({ cart: (req.session as unknown as { cart?: string[] }).cart ?? null, sid: req.sessionID }));
  app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.status(204).end())));
  app.use((err: Error & { statusCode?: number }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.statusCode ?? 500).json({ error: err.message });
  });
  return { server: app.listen(0, '127.0.0.1'), store };
}

describe('client package: web helpers against real nodes', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  let ca: SessionClient;
  let cb: SessionClient;
  const closers: Array<() => unknown> = [];

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints });
    b = await startNode({ endpoints: etcd.endpoints });
    ca = new SessionClient({ endpoints: a.address });
    cb = new SessionClient({ endpoints: b.address });
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    ca?.close();
    cb?.close();
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('Express: login sets an HttpOnly cookie, /me is 200 with it, 401 without and after logout', async () => {
    const server = expressApp(ca);
    closers.push(() => server.close());
    const base = await listening(server);
    const anon = new Browser();
    const none = await anon.fetch(base, '/me');
    assert.equal(none.status, 401);
    assert.deepEqual(none.body, { error: 'unauthenticated', verdict: 'MISSING' });

    const br = new Browser();
    const login = await br.fetch(base, '/login?user=alice', { method: 'POST' });
    assert.equal(login.status, 204);
    assert.match(login.setCookies[0]!, /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
    assert.deepEqual((await br.fetch(base, '/me')).body, { user: 'alice' });
    assert.equal((await br.fetch(base, '/alive.txt?instance=tab-1')).status, 204);
    assert.equal((await br.fetch(base, '/page')).body, 'page');
    const redirected = await fetch(`${base}/page`, { redirect: 'manual' });
    assert.deepEqual([redirected.status, redirected.headers.get('location')], [302, '/login?why=MISSING'], 'onInvalid gets the verdict');

    const sid = br.cookies.get('sid')!;
    const out = await br.fetch(base, '/logout', { method: 'POST' });
    assert.equal(out.status, 204);
    assert.match(out.setCookies[0]!, /^sid=; .*Max-Age=0/);
    // The browser dropped the cookie; a copy of it is refused too.
    assert.equal((await br.fetch(base, '/me')).status, 401);
    const replay = await new Browser().fetch(base, '/me', { headers: { cookie: `sid=${sid}` } });
    assert.equal(replay.status, 401);
    assert.deepEqual(replay.body, { error: 'unauthenticated', verdict: 'NOT_FOUND' });
    assert.equal((await new Browser().fetch(base, '/alive.txt', { headers: { cookie: `sid=${sid}` } })).status, 401);
    const garbage = await new Browser().fetch(base, '/me', { headers: { cookie: 'sid=not-a-session' } });
    assert.deepEqual([garbage.status, (garbage.body as { verdict: string }).verdict], [401, 'MALFORMED']);
  });

  it('Fastify: the plugin guards its scope: 200 with a session, 401 after logout, login stays public', async () => {
    const app = await fastifyApp(cb);
    closers.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const br = new Browser();
    assert.equal((await br.fetch(base, '/me')).status, 401);
    assert.equal((await br.fetch(base, '/login?user=bob', { method: 'POST' })).status, 204);
    assert.deepEqual((await br.fetch(base, '/me')).body, { user: 'bob' });
    assert.equal((await br.fetch(base, '/alive.txt')).status, 204);
    const sid = br.cookies.get('sid')!;
    assert.equal((await br.fetch(base, '/logout', { method: 'POST' })).status, 204);
    const replay = await new Browser().fetch(base, '/me', { headers: { cookie: `sid=${sid}` } });
    assert.deepEqual([replay.status, replay.body], [401, { error: 'unauthenticated', verdict: 'NOT_FOUND' }]);
  });

  it('Express and Fastify answer 503 (never 200) when the node is fail-closed', async () => {
    const proxy = new FaultProxy(Number(new URL(etcd.endpoints[0]!).port));
    await proxy.start();
    const c = await startNode({ endpoints: [proxy.url], config: 'cache.max-staleness=1s' });
    const cc = new SessionClient({ endpoints: c.address, deadlineMs: 3000 });
    const server = expressApp(cc);
    const app = await fastifyApp(cc);
    try {
      const eBase = await listening(server);
      const fBase = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const eb = new Browser();
      const fb = new Browser();
      assert.equal((await eb.fetch(eBase, '/login?user=carol', { method: 'POST' })).status, 204);
      assert.equal((await fb.fetch(fBase, '/login?user=dave', { method: 'POST' })).status, 204);
      assert.equal((await eb.fetch(eBase, '/me')).status, 200);
      assert.equal((await fb.fetch(fBase, '/me')).status, 200);
      proxy.set('cut');
      const seen = new Set<number>();
      let last = '';
      await eventually(
        async () => {
          const [e, f] = await Promise.all([eb.fetch(eBase, '/me'), fb.fetch(fBase, '/me')]);
          seen.add(e.status).add(f.status);
          last = `${e.status} ${JSON.stringify(e.body)} / ${f.status} ${JSON.stringify(f.body)}`;
          return e.status === 503 && f.status === 503;
        },
        { timeoutMs: 20_000, intervalMs: 100, what: 'both apps to answer 503' },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last answers: ${last}`);
      }
      );
      assert.deepEqual([...seen].filter((s) => s !== 200 && s !== 503), [], 'only 200 (before staleness) or 503');
      const e = await eb.fetch(eBase, '/me');
      assert.deepEqual(e.body, { error: 'session_service_unavailable', reason: (e.body as { reason: string }).reason });
      assert.match((e.body as { reason: string }).reason, /CACHE_STALE|STORE_UNAVAILABLE|NOT_SERVING|DEADLINE_EXCEEDED/);
      assert.equal((await eb.fetch(eBase, '/alive.txt')).status, 503);
    } finally {
      server.close();
      await app.close();
      cc.close();
      proxy.set('pass');
      await c.stop();
      await proxy.stop();
    }
  });

  it('express-session Store: data written through node A is read through node B; touch renews; destroy logs out', async () => {
    const A = storeApp(ca);
    const B = storeApp(cb);
    closers.push(() => A.server.close(), () => B.server.close());
    const [baseA, baseB] = [await listening(A.server), await listening(B.server)];
    const br = new Browser();
    // Before login: no cookie is set, nothing is stored.
    const anon = await br.fetch(baseA, '/cart');
    assert.deepEqual([anon.setCookies.length, (anon.body as { cart: unknown }).cart], [0, null]);

    const login = await br.fetch(baseA, '/login?user=erin', { method: 'POST' });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.ok(br.cookies.has('connect.sid'));
    const onB = await br.fetch(baseB, '/cart');
    assert.deepEqual((onB.body as { cart: string[] }).cart, ['apple']);
    const sid = (onB.body as { sid: string }).sid;
    assert.equal((await ca.getSession(sid)).user, 'erin', 'the express-session id is the session-manager id');
    assert.deepEqual(((await br.fetch(baseB, '/cart?item=pear', { method: 'POST' })).body as { cart: string[] }).cart, ['apple', 'pear']);
    await eventually(async () => JSON.stringify(((await br.fetch(baseA, '/cart')).body as { cart: string[] }).cart) === '["apple","pear"]', {
      what: 'A to read what B wrote',
    });

    // touch = Heartbeat: the session's last access moves forward without a validated hit.
    const before = await ca.getSession(sid);
    await eventually(
      async () => {
        await new Promise<void>((resolve, reject) => A.store.touch(sid, {} as never, ((err?: unknown) => (err ? reject(err) : resolve())) as () => void));
        return (await ca.getSession(sid)).lastAccessTime!.getTime() > before.lastAccessTime!.getTime();
      },
      { what: 'touch to renew the session' },
    );
    assert.equal((await ca.getSession(sid)).hitCount, before.hitCount, 'touch counts no hit');

    assert.equal((await br.fetch(baseB, '/logout', { method: 'POST' })).status, 204);
    const after = await new Browser().fetch(baseA, '/cart', { headers: { cookie: `connect.sid=${br.cookies.get('connect.sid')}` } });
    assert.equal((after.body as { cart: unknown }).cart, null, 'the old cookie no longer opens the session');
    await assert.rejects(ca.getSession(sid), { name: 'NotFoundError', reason: 'SESSION_NOT_FOUND' });
  });
});
