// Interop harness (make test-interop): starts etcd and one node process (dist/src/main.js), writes the
// API descriptor set with buf, runs the Python client (Debian's /usr/bin/python3 with python3-grpcio
// and python3-protobuf) against the node, then stops the node and scans its log for session ids.
// It also generates the Python and Go stubs with buf (clients/python, clients/go templates), compiles
// the Go example with Debian's Go toolchain and grpc-go, and runs both examples against the node.
// Prints `interop: N passed, M failed` last and exits 1 on any failure.
import { randomBytes } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EtcdCluster } from '../support/etcd.js';
import { freePort } from '../support/ports.js';
import { leakedIds } from '../property/support.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PYTHON = process.env['INTEROP_PYTHON'] ?? '/usr/bin/python3';
const DEADLINE_MS = 180_000;
const GOPATH_SYSTEM = '/usr/share/gocode';

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

async function main(): Promise<number> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail = '') => {
    checks.push({ name, ok, detail });
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? ` -- ${detail}` : ''}`);
  };
  const tmp = mkdtempSync(join(tmpdir(), 'sm-interop-'));
  const watchdog = setTimeout(() => {
    console.error(`interop: gave up after ${DEADLINE_MS} ms`);
    process.exit(1);
  }, DEADLINE_MS);
  watchdog.unref();
  let etcd: EtcdCluster | undefined;
  let node: ReturnType<typeof spawn> | undefined;
  let nodeLog = '';
  try {
    const py = spawnSync(PYTHON, ['-c', 'import grpc, google.protobuf'], { encoding: 'utf8' });
    if (py.status !== 0) {
      check(`${PYTHON} has grpc and protobuf (apt-get install python3-grpcio python3-protobuf)`, false, py.stderr.trim());
      return 1;
    }
    const descriptors = join(tmp, 'api.binpb');
    const buf = spawnSync(join(REPO, 'node_modules/.bin/buf'), ['build', 'proto', '-o', descriptors], { cwd: REPO, encoding: 'utf8' });
    check('buf build writes the descriptor set', buf.status === 0 && existsSync(descriptors), buf.stderr);
    if (buf.status !== 0) return 1;

    const examples = buildExamples(tmp, check);

    etcd = await EtcdCluster.start();
    const port = await freePort();
    const config = join(tmp, 'cluster-config.properties');
    writeFileSync(config, 'cache.max-staleness=2s\n');
    // The Python client authenticates with a bearer token named by a caller policy (SPEC rule 21).
    const tokenFile = join(tmp, 'interop-token');
    writeFileSync(tokenFile, `interop-${randomBytes(24).toString('base64url')}\n`);
    const policyFile = join(tmp, 'callers.json');
    writeFileSync(policyFile, JSON.stringify({ callers: { interop: { tokenFiles: [tokenFile], allow: ['validate', 'login'], sites: '*' } } }));
    node = spawn(
      process.execPath,
      [join(REPO, 'dist/src/main.js'), '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', etcd.endpoints[0]!, '--config', config, '--node-id', 'interop', '--etcd-prefix', '/sm-interop/', '--shutdown-grace', '2', '--auth-policy-file', policyFile],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SM_LOG_LEVEL: 'trace' } },
    );
    node.stdout!.on('data', (d: Buffer) => (nodeLog += d.toString()));
    node.stderr!.on('data', (d: Buffer) => (nodeLog += d.toString()));
    const exited = new Promise<number | null>((r) => node!.once('exit', (code) => r(code)));
    const serving = await waitFor(() => /"msg":"serving"/.test(nodeLog), 20_000);
    check('the node process starts and syncs', serving, nodeLog.slice(-500));
    if (!serving) return 1;

    const idsFile = join(tmp, 'ids.txt');
    const resultsFile = join(tmp, 'results.json');
    const client = spawnSync(
      PYTHON,
      [join(REPO, 'test/interop/client.py'), '--target', `127.0.0.1:${port}`, '--descriptors', descriptors, '--ids-out', idsFile, '--results', resultsFile, '--token-file', tokenFile],
      { encoding: 'utf8', timeout: 30_000 },
    );
    process.stdout.write(client.stdout.replace(/^python: .*$/m, '').trimEnd() + '\n');
    if (client.stderr.trim()) process.stderr.write(client.stderr);
    const py_results: Check[] = existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as Check[]) : [];
    checks.push(...py_results);
    check('the Python client ran to the end', client.status !== null && existsSync(resultsFile), `exit ${client.status} ${client.error?.message ?? ''}`);

    for (const ex of examples) {
      const run = spawnSync(ex.cmd, [...ex.args, '--target', `dns:///127.0.0.1:${port}`, '--token-file', tokenFile], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...ex.env } });
      const out = `${run.stdout}${run.stderr}`.trim();
      check(`the ${ex.name} example runs against the node`, run.status === 0 && /after logout: VERDICT_NOT_FOUND/.test(out), out || `exit ${run.status}`);
    }

    node.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
    check('the node drains and exits 0 on SIGTERM', code === 0, `exit ${code}`);
    node = undefined;
    const ids = existsSync(idsFile) ? readFileSync(idsFile, 'utf8').split('\n').filter(Boolean) : [];
    check('the node logged something to scan', nodeLog.length > 0);
    check('no session id in the node log', ids.length > 0 && leakedIds(ids, [nodeLog]).length === 0, `${ids.length} ids`);
  } catch (err) {
    check('harness', false, (err as Error).stack ?? String(err));
  } finally {
    node?.kill('SIGKILL');
    await etcd?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  const failed = checks.filter((c) => !c.ok).length;
  console.log(`interop: ${checks.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

interface Example {
  name: string;
  cmd: string;
  args: string[];
  env: Record<string, string>;
}

/** Generates the Python and Go stubs with buf and builds the Go example; returns what to run. */
function buildExamples(tmp: string, check: (name: string, ok: boolean, detail?: string) => void): Example[] {
  const out: Example[] = [];
  const buf = join(REPO, 'node_modules/.bin/buf');
  const pyGen = join(tmp, 'gen-py');
  const py = spawnSync(buf, ['generate', 'proto', '--template', 'clients/python/buf.gen.yaml', '--path', 'proto/sessionmanager/v1', '--path', 'proto/google/rpc', '--path', 'proto/google/api', '-o', pyGen], { cwd: REPO, encoding: 'utf8' });
  check('buf generates the Python stubs (protoc + grpc_python_plugin)', py.status === 0, py.stderr);
  if (py.status === 0) out.push({ name: 'Python', cmd: PYTHON, args: [join(REPO, 'clients/python/example.py')], env: { PYTHONPATH: pyGen } });

  const gopath = join(tmp, 'gopath');
  const goGen = join(gopath, 'src');
  const go = spawnSync(buf, ['generate', 'proto', '--template', 'clients/go/buf.gen.yaml', '--path', 'proto/sessionmanager/v1', '-o', goGen], { cwd: REPO, encoding: 'utf8' });
  check('buf generates the Go stubs (protoc-gen-go + protoc-gen-go-grpc)', go.status === 0, go.stderr);
  if (go.status !== 0) return out;
  const pkg = join(goGen, 'example.com/sessionmanager/example');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(join(REPO, 'clients/go/example/main.go'), join(pkg, 'main.go'));
  const bin = join(tmp, 'go-example');
  const env = { ...process.env, GO111MODULE: 'off', GOPATH: `${gopath}:${GOPATH_SYSTEM}`, GOCACHE: join(tmp, 'gocache'), GOFLAGS: '' };
  const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: pkg, encoding: 'utf8', env, timeout: 120_000 });
  check('the Go example compiles (Debian golang-go + golang-google-grpc-dev)', build.status === 0, `${build.error?.message ?? ''} ${build.stderr}`);
  if (build.status === 0) out.push({ name: 'Go', cmd: bin, args: [], env: { GRPC_GO_RETRY: 'on' } });
  return out;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

main().then((code) => process.exit(code));
