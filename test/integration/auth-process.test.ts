// SPEC rule 21 with the process defaults: a session-manager started from dist/src/main.js with no
// flag but its etcd refuses unauthenticated callers; --insecure-allow-anonymous is the only opt-out.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { status } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { AdminApi, SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';

const MAIN = new URL('../../src/main.js', import.meta.url).pathname;

describe('rule 21: the process requires caller credentials by default', function () {
  let etcd: EtcdCluster;
  const procs: ChildProcess[] = [];
  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await etcd?.stop();
  });

  async function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ address: string; log: () => string }> {
    const port = await freePort();
    let out = '';
    const proc = spawn(process.execPath, [MAIN, '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', etcd.endpoints[0]!, '--etcd-prefix', `/sm-ap-${port}/`, ...args], {
      env: { ...process.env, OTEL_SDK_DISABLED: 'true', OTEL_METRICS_EXPORTER: 'none', SM_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    procs.push(proc);
    await eventually(() => /"msg":"serving"/.test(out), { timeoutMs: 20_000, what: 'serving' });
    return { address: `127.0.0.1:${port}`, log: () => out };
  }

  it('no flags but etcd: CreateSession and ValidateSession without a credential → UNAUTHENTICATED', async () => {
    const { address } = await start([]);
    const api = new SessionApi(address, { timeoutMs: 5000 });
    const c = await failure(api.create({ site: 'default', user: 'u', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' }));
    assert.deepEqual([c.code, c.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_REQUIRED']);
    const v = await failure(api.validate({ sessionId: 'A'.repeat(43) }));
    assert.deepEqual([v.code, v.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_REQUIRED']);
    const a = await failure(new AdminApi(address, 'some-token-that-is-long-enough', { timeoutMs: 5000 }).status({}));
    assert.deepEqual([a.code, a.reason], [status.UNAUTHENTICATED, 'CALLER_CREDENTIAL_INVALID']);
    api.close();
  });

  it('SM_INSECURE_ALLOW_ANONYMOUS=true: anyone may do anything, logged loudly and shown in GetClusterStatus', async () => {
    const { address, log } = await start([], { SM_INSECURE_ALLOW_ANONYMOUS: 'true' });
    const api = new SessionApi(address, { timeoutMs: 5000 });
    await api.create({ site: 'default', user: 'u', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd' });
    const st = await new AdminApi(address, undefined, { timeoutMs: 5000 }).status({});
    assert.equal(st.anonymousAllowed, true);
    assert.match(log(), /"level":40.*INSECURE: --insecure-allow-anonymous/);
    api.close();
  });

  it('SM_INSECURE_ALLOW_ANONYMOUS accepts only true or false', async () => {
    const proc = spawn(process.execPath, [MAIN, '--etcd-endpoints', etcd.endpoints[0]!], { env: { ...process.env, SM_INSECURE_ALLOW_ANONYMOUS: 'yes' } });
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => proc.on('exit', r));
    assert.equal(code, 2);
    assert.match(err, /SM_INSECURE_ALLOW_ANONYMOUS/);
  });
});
