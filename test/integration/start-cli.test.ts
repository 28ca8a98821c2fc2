import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../support/ports.js';

const MAIN = new URL('../../src/main.js', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs `session-manager ARGS` to its exit with the Prometheus endpoint on a free port. */
async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), SM_LOG_LEVEL: 'debug' };
  delete env['OTEL_SDK_DISABLED'];
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe('session-manager --help, --version and bad flags', () => {
  for (const flag of ['--help', '-h']) {
    it(`${flag} prints every flag with its environment variable and exits 0, opening no port`, async () => {
      const r = await run([flag]);
      assert.equal(r.code, 0, r.stderr);
      for (const s of ['Usage: session-manager', '--listen', 'SM_LISTEN', '--etcd-endpoints', '--config-source', 'OTEL_']) assert.ok(r.stdout.includes(s), `${s} in ${r.stdout}`);
      assert.equal(r.stderr, '');
      // Nothing started: the telemetry SDK logs (JSON lines, SM_LOG_LEVEL=debug) would be here.
      assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('{')), `no log line, so no telemetry started: ${r.stdout}`);
    });
  }

  for (const flag of ['--version', '-v']) {
    it(`${flag} prints the package version and exits 0`, async () => {
      const r = await run([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `session-manager ${VERSION}\n`);
    });
  }

  it('an unknown flag exits 2 naming it, before telemetry opens the metrics port', async () => {
    const r = await run(['--no-such-flag']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no-such-flag/);
    assert.match(r.stderr, /--help/);
    assert.ok(!r.stdout.split('\n').some((l) => l.startsWith('{')), `no log line, so no telemetry started: ${r.stdout}`);
  });
});
