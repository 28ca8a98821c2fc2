// sessionctl as a process: output formats (enum names, human durations), exit codes, help and
// version, environment variables, several endpoints, the timeout, and the token on every call.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adminTokenFile } from '../support/cluster.js';
import { EtcdCluster } from '../support/etcd.js';
import { FakeServer } from '../support/fake-session-server.js';
import { startNode, type TestNode } from '../support/nodes.js';

const CTL = join(resolve(dirname(fileURLToPath(import.meta.url)), '../../..'), 'dist/src/cli/sessionctl.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs sessionctl with only the SM_ variables given (none inherited from the test's environment). */
function ctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SM_')));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CTL, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('sessionctl', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  let tokenFile: string;
  let EP: Record<string, string>;

  before(async () => {
    etcd = await EtcdCluster.start();
    const admin = adminTokenFile();
    tokenFile = admin.file;
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'ctl-a', node: { adminTokenFile: admin.file } });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'ctl-b', node: { adminTokenFile: admin.file } });
    EP = { SM_ENDPOINTS: a.address };
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  it('--help, -h, help and help <command> print to stdout and exit 0; usage errors exit 2', async () => {
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const r = await ctl(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /^usage: sessionctl \[global flags\] <command>/m);
      assert.match(r.stdout, /--endpoints .*\[\$SM_ENDPOINTS\]/);
    }
    for (const args of [['help', 'list'], ['list', '--help']]) {
      const r = await ctl(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^usage: sessionctl list /);
      assert.match(r.stdout, /--page-size .*\[\$SM_PAGE_SIZE\]/);
    }
    const bad = [['bogus'], ['--nope', 'status'], ['validate'], ['-o', 'xml', 'status'], ['--timeout', 'soon', 'status'], ['help', 'bogus'], ['create', '--type', 'fax']];
    for (const args of bad) {
      const r = await ctl(args, EP);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^sessionctl: .*\nRun 'sessionctl (--help|help \S+)' for usage\.\n$/);
    }
  });

  it('version prints its version and the client library version', async () => {
    const r = await ctl(['version', '-o', 'json']);
    assert.equal(r.code, 0);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    assert.match(v['sessionctl']!, /^\d+\.\d+\.\d+/);
    assert.match(v['client']!, /^\d+\.\d+\.\d+/);
    assert.match((await ctl(['version'])).stdout, /^sessionctl: \d+\.\d+\.\d+\nclient: /);
  });

  it('create/validate/get show enum names and human durations in json and yaml; exit 1 on a non-VALID verdict', async () => {
    const created = await ctl(['create', '--user', 'alice', '--type', 'mobile', '--device', 'phone', '--attr', 'cart=apples', '-o', 'json'], EP);
    assert.equal(created.code, 0, created.stderr);
    const c = JSON.parse(created.stdout) as { sessionId: string; session: Record<string, unknown> & { policy: Record<string, unknown> } };
    assert.equal(c.session['clientType'], 'mobile');
    assert.equal(c.session['state'], 'ACTIVE');
    assert.match(String(c.session.policy['idleTimeout'] ?? c.session.policy['singleRequestTimeout']), /^(\d+[dhms])+$|^\d+ms$/);
    assert.match(String(c.session['createTime']), /^\d{4}-\d\d-\d\dT/);
    const id = c.sessionId;

    const v = await ctl(['validate', id], EP);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^verdict: VALID$/m);
    assert.match(v.stdout, /^ {2}clientType: mobile$/m);
    assert.doesNotMatch(v.stdout, /seconds|nanos/);

    const attr = await ctl(['attr-get', id, 'cart', '-o', 'json'], EP);
    assert.equal((JSON.parse(attr.stdout) as { value: string }).value, 'apples');
    const table = await ctl(['get', id, '-o', 'table'], EP);
    assert.match(table.stdout, /^FIELD +VALUE$/m);
    assert.match(table.stdout, /^user +alice$/m);

    assert.equal((await ctl(['end', id], EP)).code, 0);
    const after = await ctl(['validate', id, '-o', 'json'], EP);
    assert.equal(after.code, 1);
    assert.deepEqual(JSON.parse(after.stdout), { verdict: 'NOT_FOUND' });
    const gone = await ctl(['get', id], EP);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /\[SESSION_NOT_FOUND\]/);
  });

  it('list and status are tables by default, yaml/json on request; admin calls need the token', async () => {
    for (const u of ['bob', 'carol']) assert.equal((await ctl(['create', '--user', u, '--site', 'default', '--type', 'web'], EP)).code, 0);
    const denied = await ctl(['list'], EP);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /\[ADMIN_CREDENTIAL_REQUIRED\]/);

    const list = await ctl(['list', '--user', 'bob'], { ...EP, SM_ADMIN_TOKEN_FILE: tokenFile });
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0]!, /^REF +SITE +USER +TYPE +STATE +DEVICE +AGE +IDLE +HITS$/);
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^\S+ +default +bob +web +ACTIVE +sessionctl +\S+ +\S+ +0$/);

    const yaml = await ctl(['list', '--user', 'carol', '-o', 'yaml', '--token-file', tokenFile], EP);
    assert.match(yaml.stdout, /^sessions:\n {2}- sessionRef: \S+\n {4}session:\n {6}site: default\n {6}user: carol$/m);
    const status = await ctl(['status'], { SM_ENDPOINTS: `${a.address},${b.address}`, SM_TOKEN_FILE: tokenFile });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^NODE +AGE +CONFIG$/m);
    assert.match(status.stdout, /^ctl-a /m);
    assert.match(status.stdout, /^ctl-b /m);
    assert.match(status.stdout, /^SITE +TYPE +SESSIONS$/m);
    const json = JSON.parse((await ctl(['status', '-o', 'json'], { ...EP, SM_ADMIN_TOKEN: (await import('node:fs')).readFileSync(tokenFile, 'utf8').trim() })).stdout) as {
      sessionCounts: Array<{ clientType: string }>;
    };
    assert.ok(json.sessionCounts.some((c) => c.clientType === 'web'));
  });

  it('--endpoints takes several addresses (a dead one is skipped); flags win over environment variables', async () => {
    const before = a.node.service.stats.created + b.node.service.stats.created;
    for (let i = 0; i < 3; i++) {
      const r = await ctl(['--endpoints', `127.0.0.1:1,${a.address},${b.address}`, 'create', '--user', `multi-${i}`, '-o', 'json'], { SM_ENDPOINTS: '127.0.0.1:1', SM_USER: 'ignored' });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { session: { user: string } }).session.user, `multi-${i}`);
    }
    assert.equal(a.node.service.stats.created + b.node.service.stats.created - before, 3);
    const fromEnv = await ctl(['create'], { SM_ENDPOINTS: `${b.address},${a.address}`, SM_USER: 'from-env', SM_TYPE: 'api', SM_DEVICE: 'env-device', SM_OUTPUT: 'yaml' });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /^ {2}user: from-env\n {2}clientType: api\n {2}deviceId: env-device$/m);
    const flagWins = await ctl(['create', '-o', 'json', '--user', 'from-flag'], { ...EP, SM_USER: 'from-env', SM_OUTPUT: 'yaml' });
    assert.equal((JSON.parse(flagWins.stdout) as { session: { user: string } }).session.user, 'from-flag');
  });

  it('events follows lifecycle events as JSON lines until SIGINT, then exits 0', async () => {
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SM_')));
    const p = spawn(process.execPath, [CTL, 'events', '-o', 'json'], { env: { ...base, ...EP, SM_TOKEN_FILE: tokenFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    const closed = new Promise<number | null>((r) => p.on('close', r));
    const deadline = Date.now() + 15_000;
    // Each web login of the same user replaces the previous one: wait for a CREATED event of one.
    const created = () =>
      out.split('\n').slice(0, -1).filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>).find((e) => e['user'] === 'watched' && e['type'] === 'CREATED');
    while (!created() && Date.now() < deadline) {
      await ctl(['create', '--user', 'watched'], EP);
      await new Promise((r) => setTimeout(r, 200));
    }
    p.kill('SIGINT');
    assert.equal(await closed, 0);
    const ev = created();
    assert.ok(ev, out);
    assert.deepEqual([ev['type'], ev['clientType'], ev['site']], ['CREATED', 'web', 'default']);
  });

  it('exit 3 when the service is unavailable or the call times out; the token goes on every call', async () => {
    const refused = await ctl(['validate', 'x'], { SM_ENDPOINTS: '127.0.0.1:1', SM_TIMEOUT: '2s' });
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /\[UNAVAILABLE\]/);
    const fake = new FakeServer();
    await fake.start();
    try {
      fake.hang = true;
      const t0 = Date.now();
      const slow = await ctl(['validate', 'x', '--timeout', '300ms'], { SM_ENDPOINTS: `127.0.0.1:${fake.port}` });
      assert.equal(slow.code, 3);
      assert.match(slow.stderr, /\[DEADLINE_EXCEEDED\]/);
      assert.ok(Date.now() - t0 < 5000);
      fake.hang = false;
      const env = { SM_ENDPOINTS: `127.0.0.1:${fake.port}`, SM_TOKEN_FILE: tokenFile };
      const token = `Bearer ${(await import('node:fs')).readFileSync(tokenFile, 'utf8').trim()}`;
      fake.auth.length = 0;
      assert.equal((await ctl(['validate', 'x'], env)).code, 1, 'EXPIRED from the stand-in');
      assert.equal((await ctl(['create', '--user', 'u'], env)).code, 3, 'UNAVAILABLE from the stand-in');
      assert.equal((await ctl(['status'], env)).code, 0);
      assert.deepEqual(fake.auth, [token, token, token], 'session and admin calls all carry the token');
    } finally {
      fake.stop();
    }
  });
  it('persistent logins and own sessions: create --persistent, resume, my-sessions, end-mine, end --forget', async () => {
    const j = <T>(r: Run): T => {
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as T;
    };
    const c = j<{ sessionId: string; loginToken: string }>(await ctl(['create', '--user', 'keep', '--type', 'web', '--device', 'laptop', '--persistent', '-o', 'json'], EP));
    assert.match(c.loginToken, /^[A-Za-z0-9_-]{43}$/);
    const r = j<{ sessionId: string; loginToken: string }>(await ctl(['resume', c.loginToken, '--device', 'laptop', '-o', 'json'], EP));
    assert.notEqual(r.loginToken, c.loginToken);
    j(await ctl(['create', '--user', 'keep', '--type', 'mobile', '--device', 'phone', '-o', 'json'], EP));
    const mine = await ctl(['my-sessions', r.sessionId], EP);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match(mine.stdout, /HANDLE/);
    assert.equal(mine.stdout.split('\n').filter((l) => l.startsWith('*')).length, 1);
    assert.deepEqual(j(await ctl(['end-mine', r.sessionId, '-o', 'json'], EP)), { ended: 1 });
    assert.equal((await ctl(['end-mine', r.sessionId, '--scope', 'some'], EP)).code, 2);
    j(await ctl(['end', r.sessionId, '--forget', '-o', 'json'], EP));
    const again = await ctl(['resume', r.loginToken, '--device', 'laptop'], EP);
    assert.equal(again.code, 1);
    assert.match(again.stderr + again.stdout, /LOGIN_TOKEN_NOT_FOUND/);
  });
});
