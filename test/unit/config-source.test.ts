import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { NodeEvents } from '../../src/app/node-events.js';
import { kubernetesConfigMapClient } from '../../src/config/configmap-client.js';
import type { ConfigInvalidError } from '../../src/config/errors.js';
import { FileConfigSource } from '../../src/config/file-source.js';
import { IllegalTransitionError } from '../../src/lifecycle/lifecycle.js';
import type { ConfigMapClient, ConfigMapObject, WatchHandle } from '../../src/domain/ports.js';
import { KubeConfigSource } from '../../src/config/kube-source.js';
import { configVersionOf, loadConfigText } from '../../src/config/loader.js';
import type { LoadedConfig } from '../../src/domain/ports.js';
import { forwardConfigEvents, ReloadableConfig, type ConfigLog } from '../../src/config/reloadable-config.js';
import { KubeletDir } from '../support/kubelet-dir.js';
import { eventually } from '../support/poll.js';

const MIN = 60_000;
const WEB30 = 'session.timeout.web=30\n';
const WEB45 = 'session.timeout.web=45\n';
const BAD = 'session.timeout.web=50\nsession.timeout.desktop=0\nsession.hit-max=x\n';

/** A logger that keeps what it was given. */
class MemoryLog implements ConfigLog {
  readonly lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  info(fields: object, msg: string): void {
    this.lines.push({ level: 'info', fields: fields as Record<string, unknown>, msg });
  }
  warn(fields: object, msg: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, msg });
  }
  warnings(): string[] {
    return this.lines.filter((l) => l.level === 'warn').map((l) => l.msg);
  }
}

function loaded(text: string): LoadedConfig {
  return loadConfigText(text, 'test');
}

describe('config reload: validate, then apply or keep the last good (rule 16)', () => {
  it('the version is the content hash loadConfigText gives', () => {
    for (const text of ['', WEB30, WEB45]) assert.equal(configVersionOf(text), loaded(text).version);
    assert.notEqual(configVersionOf(WEB30), configVersionOf(WEB45));
  });

  it('good → applied; same again → unchanged; bad → rejected once, naming every bad key; back → restored', () => {
    const log = new MemoryLog();
    const c = new ReloadableConfig(loaded(WEB30), log);
    const changes: string[] = [];
    const rejects: ConfigInvalidError[] = [];
    c.onChange((n) => changes.push(n.version));
    c.onReject((e) => rejects.push(e));

    assert.equal(c.offer(WEB30, 'f'), 'unchanged', 'the initial content');
    assert.equal(c.offer(WEB45, 'f'), 'applied');
    assert.equal(c.current().policy.idleTimeoutMs.web, 45 * MIN);
    assert.deepEqual(changes, [configVersionOf(WEB45)]);
    assert.equal(c.offer(WEB45, 'f'), 'unchanged');

    assert.equal(c.offer(BAD, 'f'), 'rejected');
    assert.equal(c.current().version, configVersionOf(WEB45), 'the last good config stays');
    for (const key of ['session.timeout.desktop', 'session.hit-max']) assert.ok(c.lastError().includes(key), c.lastError());
    assert.equal(rejects.length, 1);
    assert.deepEqual(
      rejects[0]!.problems.map((p) => p.split(':')[0]),
      ['session.timeout.desktop', 'session.hit-max'],
    );
    const warn = log.lines.find((l) => l.level === 'warn')!;
    assert.ok(warn.msg.includes('session.timeout.desktop') && warn.msg.includes('session.hit-max'), 'one log line names every bad key');
    assert.equal(c.offer(BAD, 'f'), 'unchanged', 'a bad file seen again is not re-reported');
    assert.equal(rejects.length, 1);

    assert.equal(c.offer(WEB45, 'f'), 'restored', 'back to the content in force');
    assert.equal(c.lastError(), '');
    assert.deepEqual(changes, [configVersionOf(WEB45)], 'nothing new to apply');
  });

  it('reject() reports a problem without text (missing key, deleted ConfigMap) once', () => {
    const c = new ReloadableConfig(loaded(WEB30));
    let n = 0;
    c.onReject(() => n++);
    c.reject('configmap ns/x', ['ConfigMap ns/x not found']);
    c.reject('configmap ns/x', ['ConfigMap ns/x not found']);
    assert.equal(n, 1);
    assert.match(c.lastError(), /ConfigMap ns\/x not found/);
    assert.equal(c.offer(WEB30, 'f'), 'restored');
    assert.equal(c.lastError(), '');
  });

  it('a throwing listener neither stops the others nor undoes the update', () => {
    const c = new ReloadableConfig(loaded(WEB30), new MemoryLog());
    let called = false;
    c.onChange(() => {
      throw new Error('boom');
    });
    c.onChange(() => (called = true));
    assert.equal(c.offer(WEB45, 'f'), 'applied');
    assert.ok(called);
    assert.equal(c.current().version, configVersionOf(WEB45));
  });

  it('forwardConfigEvents reports config-applied and config-rejected on node events', () => {
    const c = new ReloadableConfig(loaded(WEB30));
    const events = new NodeEvents();
    const seen: unknown[] = [];
    events.on('config-applied', (v) => seen.push(['applied', v]));
    events.on('config-rejected', (p) => seen.push(['rejected', p.length]));
    const off = forwardConfigEvents(c, events);
    c.offer(WEB45, 'f');
    c.offer(BAD, 'f');
    off();
    c.offer(WEB30, 'f');
    assert.deepEqual(seen, [
      ['applied', configVersionOf(WEB45)],
      ['rejected', 2],
    ]);
  });
});

describe('config reload: FileConfigSource', () => {
  const FILE = 'cluster-config.properties';
  let mount: KubeletDir;
  let source: FileConfigSource | undefined;
  beforeEach(() => {
    mount = new KubeletDir({ [FILE]: WEB30 });
  });
  afterEach(() => {
    source?.stop();
    source = undefined;
    mount.remove();
  });

  it('validates its options and allows one start', () => {
    assert.throws(() => new FileConfigSource(loaded(''), { path: '' }), /needs a path/);
    assert.throws(() => new FileConfigSource(loaded(''), { path: '/x', pollMs: 0 }), /pollMs/);
    source = new FileConfigSource(loaded(WEB30), { path: mount.path(FILE) });
    assert.equal(source.state, 'new');
    source.start();
    assert.throws(() => source!.start(), /cannot start a FileConfigSource that is running/);
    source.stop();
    source.stop();
    assert.equal(source.state, 'stopped');
  });

  it('check() follows kubelet swaps; an unreadable file keeps the config in force', async () => {
    const log = new MemoryLog();
    source = new FileConfigSource(loaded(WEB30), { path: mount.path(FILE), log });
    assert.equal(await source.check(), 'unchanged');
    mount.update({ [FILE]: WEB45 });
    assert.equal(await source.check(), 'applied');
    assert.equal(source.current().policy.idleTimeoutMs.web, 45 * MIN);
    const missing = new FileConfigSource(loaded(WEB30), { path: mount.path('nope.properties'), log });
    assert.equal(await missing.check(), 'unreadable');
    assert.equal(await missing.check(), 'unreadable');
    assert.equal(missing.current().version, configVersionOf(WEB30));
    assert.equal(missing.lastError(), '', 'a read failure is not a rejected config');
    assert.equal(log.warnings().filter((m) => m.includes('unreadable')).length, 1, 'logged once, not per poll');
  });

  it('lifecycle contract: lost once per outage while running, stopped after stop(), IllegalTransitionError on a second start', async () => {
    const events: string[] = [];
    source = new FileConfigSource(loaded(WEB30), { path: mount.path('nope.properties'), pollMs: 3_600_000, watchDirectory: false, log: new MemoryLog() });
    source.on('state', (to, from) => events.push(`${from}->${to}`));
    source.on('lost', (e) => events.push(`lost:${e.message.includes('nope.properties')}`));
    source.on('stopped', () => events.push('stopped'));
    source.start();
    assert.equal(await source.check(), 'unreadable');
    assert.equal(await source.check(), 'unreadable');
    assert.throws(() => source!.start(), IllegalTransitionError);
    await source.stop();
    await source.stop();
    assert.deepEqual(events, ['new->running', 'lost:true', 'running->stopped', 'stopped']);
  });

  it('the directory watch also sees a plain file rewritten in place (no kubelet)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sm-plain-config-'));
    const path = join(dir, 'plain.properties');
    writeFileSync(path, WEB30);
    source = new FileConfigSource(loaded(WEB30), { path, pollMs: 3_600_000 });
    source.start();
    writeFileSync(path, WEB45);
    try {
      await eventually(() => source!.current().version === configVersionOf(WEB45), { timeoutMs: 5000, what: 'the in-place write' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A queue of calls the code under test made, for the test to answer one by one. */
class Calls<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((t: T) => void)[] = [];
  count = 0;
  push(t: T): void {
    this.count++;
    const w = this.waiters.shift();
    if (w) w(t);
    else this.items.push(t);
  }
  next(what: string, timeoutMs = 5000): Promise<T> {
    const t = this.items.shift();
    if (t) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fake: expected a ${what} call within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  }
  pending(): number {
    return this.items.length;
  }
}

interface ListCall {
  answer(items: ConfigMapObject[], resourceVersion: string): void;
  fail(err: Error): void;
}
interface WatchCall {
  resourceVersion: string;
  emit(type: string, object: unknown): void;
  done(err: unknown): void;
  aborted: boolean;
}

/** A scripted ConfigMapClient: every call waits until the test answers it; nothing is answered by default. */
class FakeConfigMapClient implements ConfigMapClient {
  readonly lists = new Calls<ListCall>();
  readonly watches = new Calls<WatchCall>();
  list(): Promise<{ items: ConfigMapObject[]; resourceVersion: string }> {
    return new Promise((resolve, reject) =>
      this.lists.push({ answer: (items, resourceVersion) => resolve({ items, resourceVersion }), fail: reject }),
    );
  }
  async watch(resourceVersion: string, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle> {
    const call: WatchCall = { resourceVersion, emit: onEvent, done: onDone, aborted: false };
    this.watches.push(call);
    return { abort: () => (call.aborted = true) };
  }
}

function configMap(text: string | undefined, name = 'sm-config'): ConfigMapObject {
  return { metadata: { name, resourceVersion: '1' }, data: text === undefined ? { other: 'x' } : { 'cluster-config.properties': text } };
}

describe('config reload: KubeConfigSource (injected list+watch; no API server here)', () => {
  let fake: FakeConfigMapClient;
  let log: MemoryLog;
  let source: KubeConfigSource | undefined;
  const make = (extra: Partial<ConstructorParameters<typeof KubeConfigSource>[1]> = {}) =>
    new KubeConfigSource(loaded(WEB30), { namespace: 'ns', name: 'sm-config', client: fake, log, backoff: { initialMs: 1, maxMs: 4 }, ...extra });
  beforeEach(() => {
    fake = new FakeConfigMapClient();
    log = new MemoryLog();
  });
  afterEach(async () => {
    source?.stop();
    await source?.stopped();
    source = undefined;
  });

  it('validates its options', () => {
    assert.throws(() => new KubeConfigSource(loaded(''), { namespace: '', name: 'x', client: fake }), /namespace/);
    assert.throws(() => new KubeConfigSource(loaded(''), { namespace: 'ns', name: '', client: fake }), /ConfigMap name/);
    assert.throws(() => new KubeConfigSource(loaded(''), { namespace: 'ns', name: 'x', client: fake, backoff: { initialMs: 10, maxMs: 5 } }), /backoff/);
  });

  it('lifecycle contract: a failed list is lost (not a config error); stop() resolves after the loop and emits stopped', async () => {
    source = make();
    const events: string[] = [];
    source.on('lost', (e) => events.push(`lost:${e.message}`));
    source.on('stopped', () => events.push('stopped'));
    source.start();
    (await fake.lists.next('list')).fail(new Error('connection refused'));
    (await fake.lists.next('list')).fail(new Error('connection refused'));
    await source.stop();
    assert.equal(source.state, 'stopped');
    assert.deepEqual(events, ['lost:connection refused', 'stopped'], 'lost once per outage');
    assert.equal(source.lastError(), '');
  });

  it('lists, watches from the list version, applies good updates, rejects bad ones, and stops', async () => {
    source = make();
    const applied: string[] = [];
    const rejected: (readonly string[])[] = [];
    source.onChange((c) => applied.push(c.version));
    source.onReject((e) => rejected.push(e.problems));
    source.start();
    (await fake.lists.next('list')).answer([configMap(WEB30)], '10');
    const w = await fake.watches.next('watch');
    assert.equal(w.resourceVersion, '10');
    assert.deepEqual(applied, [], 'the listed content is the one in force');

    w.emit('MODIFIED', configMap(WEB45));
    assert.equal(source.current().policy.idleTimeoutMs.web, 45 * MIN);
    assert.equal(source.current().source, 'configmap ns/sm-config');
    w.emit('MODIFIED', configMap(BAD));
    assert.equal(source.current().version, configVersionOf(WEB45), 'the last good config stays');
    assert.ok(source.lastError().includes('session.timeout.desktop') && source.lastError().includes('session.hit-max'), source.lastError());
    w.emit('BOOKMARK', { metadata: { resourceVersion: '12' } });
    w.emit('MODIFIED', configMap(WEB30, 'someone-else'));
    assert.equal(source.current().version, configVersionOf(WEB45), 'another ConfigMap is ignored');
    w.emit('DELETED', configMap(WEB45));
    assert.match(source.lastError(), /ConfigMap ns\/sm-config was deleted/);
    w.emit('ADDED', configMap(WEB45));
    assert.equal(source.lastError(), '', 'recreated with the content in force');
    assert.deepEqual(applied, [configVersionOf(WEB45)]);
    assert.equal(rejected.length, 2);

    source.stop();
    await source.stopped();
    assert.ok(w.aborted, 'stop aborts the watch');
    assert.equal(fake.lists.count, 1, 'no list after stop');
  });

  it('410 Gone re-lists at once and watches from the new list version, catching a missed update', async () => {
    source = make({ backoff: { initialMs: 3_600_000, maxMs: 3_600_000 } }); // any backoff would time the test out
    source.start();
    (await fake.lists.next('list')).answer([configMap(WEB30)], '10');
    const w1 = await fake.watches.next('watch');
    w1.emit('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
    await eventually(() => w1.aborted, { what: 'the expired watch to be aborted' });
    (await fake.lists.next('re-list')).answer([configMap(WEB45)], '20');
    const w2 = await fake.watches.next('watch');
    assert.equal(w2.resourceVersion, '20');
    assert.equal(source.current().policy.idleTimeoutMs.web, 45 * MIN, 'the update made while not watching is applied from the list');
    assert.deepEqual(log.warnings(), [], '410 is routine');
  });

  it('failed lists and watches back off (doubling, capped) and a healthy watch resets the backoff', async () => {
    let now = 0;
    source = make({ clock: { now: () => now }, minWatchMs: 1000 });
    source.start();
    (await fake.lists.next('list')).fail(new Error('connection refused'));
    (await fake.lists.next('list')).fail(new Error('connection refused'));
    (await fake.lists.next('list')).answer([configMap(WEB30)], '10');
    (await fake.watches.next('watch')).done(new Error('socket hang up'));
    (await fake.lists.next('list')).answer([configMap(WEB30)], '11');
    (await fake.watches.next('watch')).emit('ERROR', { code: 500, message: 'internal' });
    (await fake.lists.next('list')).answer([configMap(WEB30)], '12');
    (await fake.watches.next('watch')).done(null); // clean, but at once and empty: counts as failed
    (await fake.lists.next('list')).answer([configMap(WEB30)], '13');
    const healthy = await fake.watches.next('watch');
    now += 5000;
    healthy.done(null); // a server-side timeout after a while: re-list at once, backoff reset
    (await fake.lists.next('list')).answer([configMap(WEB30)], '14');
    (await fake.watches.next('watch')).done(new Error('reset'));
    await fake.lists.next('list');
    const retries = log.lines.filter((l) => l.level === 'warn').map((l) => l.fields['retryMs']);
    assert.deepEqual(retries, [1, 2, 4, 4, 4, 1]);
    assert.equal(source.lastError(), '', 'API trouble is not a config error');
  });

  it('stop() ends the loop even while a list hangs', async () => {
    source = make();
    source.start();
    await fake.lists.next('list'); // never answered
    source.stop();
    await source.stopped();
    assert.equal(source.state, 'stopped');
    assert.deepEqual(log.warnings(), [], 'stopping is not a failure');
  });

  it('a missing ConfigMap or key is a rejected update naming it; the config in force stays', async () => {
    source = make();
    source.start();
    (await fake.lists.next('list')).answer([], '10');
    const w = await fake.watches.next('watch'); // the list has been handled once the watch starts
    assert.match(source.lastError(), /ConfigMap ns\/sm-config not found/);
    w.emit('ADDED', configMap(undefined));
    assert.match(source.lastError(), /cluster-config\.properties: missing from ConfigMap ns\/sm-config/);
    assert.equal(source.current().version, configVersionOf(WEB30));
    w.emit('MODIFIED', configMap(WEB45));
    assert.equal(source.lastError(), '');
    assert.equal(source.current().version, configVersionOf(WEB45));
  });
});

describe('config reload: kubernetesConfigMapClient against a stand-in API server', () => {
  it('lists and watches the one ConfigMap with fieldSelector=metadata.name (what resourceNames RBAC needs)', async () => {
    const requests: URL[] = [];
    const watchStreams: ServerResponse[] = [];
    const cm = (text: string, rv: string) => ({ metadata: { name: 'sm-config', namespace: 'ns', resourceVersion: rv }, data: { 'cluster-config.properties': text } });
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(url);
      if (url.pathname !== '/api/v1/namespaces/ns/configmaps' || url.searchParams.get('fieldSelector') !== 'metadata.name=sm-config') {
        res.writeHead(403).end(); // as the Role would
        return;
      }
      if (url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON.stringify({ type: 'MODIFIED', object: cm(WEB45, '101') }) + '\n');
        watchStreams.push(res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: [cm(WEB30, '99')] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'test-token' }],
      contexts: [{ name: 'ctx', cluster: 'c', user: 'u' }],
      currentContext: 'ctx',
    });
    const source = new KubeConfigSource(loaded(WEB30), {
      namespace: 'ns',
      name: 'sm-config',
      client: kubernetesConfigMapClient({ namespace: 'ns', name: 'sm-config', kubeConfig: kc }),
    });
    try {
      source.start();
      await eventually(() => source.current().version === configVersionOf(WEB45), { timeoutMs: 5000, what: 'the watched update' });
      const [list, watch] = requests;
      assert.ok(list && watch, 'a list, then a watch');
      assert.equal(list.searchParams.get('watch'), null);
      assert.equal(watch.searchParams.get('watch'), 'true');
      assert.equal(watch.searchParams.get('resourceVersion'), '100', 'the watch starts at the list version');
      assert.equal(watch.searchParams.get('allowWatchBookmarks'), 'true');
      assert.ok(Number(watch.searchParams.get('timeoutSeconds')) > 0, 'the server ends each watch, so the loop re-lists now and then');
      assert.equal(source.lastError(), '');
    } finally {
      source.stop();
      await source.stopped();
      for (const s of watchStreams) s.end();
      await new Promise((r) => server.close(r));
    }
  });
});
