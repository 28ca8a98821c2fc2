import './setup.js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as GrpcServer, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';
import { parseExposition, value } from './prom.js';
import { callerContext, createAs, validateAs } from './trace-helpers.js';

const MAIN = new URL('../../src/main.js', import.meta.url).pathname;

/** One OTLP/HTTP request a child process sent. */
interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

/** A minimal OTLP/HTTP receiver: records every request and answers 200. */
class OtlpReceiver {
  readonly received: Received[] = [];
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  bodies(path: string): Buffer[] {
    return this.received.filter((r) => r.path === path).map((r) => r.body);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A minimal OTLP/gRPC trace receiver: keeps each Export request's raw protobuf bytes. */
class OtlpGrpcReceiver {
  readonly bodies: Buffer[] = [];
  private readonly server = new GrpcServer();
  port = 0;

  async start(): Promise<void> {
    const raw = (b: Buffer) => b;
    const definition: ServiceDefinition = {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: raw,
      },
    };
    const impl: UntypedServiceImplementation = {
      Export: (call: { request: Buffer }, cb: (err: null, res: Buffer) => void) => {
        this.bodies.push(call.request);
        cb(null, Buffer.alloc(0));
      },
    };
    this.server.addService(definition, impl);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

let policy: { file: string; token: string } | undefined;
/** A caller policy with one token allowed everything (SPEC rule 21: the process requires callers). */
function callerPolicy(): { file: string; token: string } {
  if (policy) return policy;
  const dir = mkdtempSync(join(tmpdir(), 'sm-proc-callers-'));
  const token = `proc-test-${randomBytes(24).toString('base64url')}`;
  writeFileSync(join(dir, 'token'), token + '\n');
  writeFileSync(join(dir, 'callers.json'), JSON.stringify({ callers: { telemetry: { tokenFiles: ['token'], allow: ['validate', 'login', 'admin'], sites: '*' } } }));
  return (policy = { file: join(dir, 'callers.json'), token });
}

/** A session-manager process started through dist/src/main.js. */
interface Child {
  proc: ChildProcess;
  api: SessionApi;
  output(): string;
  stop(): Promise<number | null>;
}

describe('telemetry: the session-manager process and the OTEL_* environment', function () {
  let etcd: EtcdCluster;
  let receiver: OtlpReceiver;

  before(async () => {
    etcd = await EtcdCluster.start();
  });
  beforeEach(async () => {
    receiver = new OtlpReceiver();
    await receiver.start();
  });
  afterEach(async () => receiver.stop());
  after(async () => etcd?.stop());

  async function startChild(otel: Record<string, string>): Promise<Child> {
    const port = await freePort();
    // The child sees only the OTEL_* variables of the case, not this test process's.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    const proc = spawn(
      process.execPath,
      [MAIN, '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', etcd.endpoints[0]!, '--etcd-prefix', '/sm-proc/', '--node-id', 'proc', '--auth-policy-file', callerPolicy().file],
      { env: { ...env, SM_LOG_LEVEL: 'info', ...otel } },
    );
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => proc.on('exit', r));
    await eventually(() => out.includes('"msg":"serving"'), { timeoutMs: 20_000, what: `child serving; output: ${out}` });
    const api = new SessionApi(`127.0.0.1:${port}`, { timeoutMs: 5000, token: callerPolicy().token });
    return {
      proc,
      api,
      output: () => out,
      async stop() {
        api.close();
        proc.kill('SIGTERM');
        return exited;
      },
    };
  }

  async function workload(c: Child): Promise<{ sessionId: string; traceId: string }> {
    const caller = callerContext(callerPolicy().token);
    const { sessionId } = await createAs(c.api, callerContext(callerPolicy().token), { site: 'proc', user: `u${Date.now()}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: {} });
    assert.equal((await validateAs(c.api, caller, sessionId)).verdict, Verdict.VERDICT_VALID);
    return { sessionId, traceId: caller.traceId };
  }

  /** Log lines of the child at warn or above. */
  const problems = (out: string) => out.split('\n').filter((l) => /"level":(40|50|60)/.test(l));

  it('exports spans over OTLP http/protobuf to OTEL_EXPORTER_OTLP_ENDPOINT, continuing the caller’s trace, and serves Prometheus metrics', async () => {
    const prom = await freePort();
    const c = await startChild({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(prom),
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    });
    let sessionId = '';
    try {
      const w = await workload(c);
      sessionId = w.sessionId;
      const traceId = Buffer.from(w.traceId, 'hex');
      await eventually(
        () => receiver.bodies('/v1/traces').some((b) => b.includes(traceId) && b.includes('grpc.sessionmanager.v1.SessionService/ValidateSession')),
        { what: 'the validate’s server span, in the caller’s trace' },
      );
      const traces = Buffer.concat(receiver.bodies('/v1/traces'));
      for (const s of ['etcd txn', 'db.system', 'session-manager', 'deployment.environment.name']) assert.ok(traces.includes(s), `${s} in the exported spans`);
      assert.ok(receiver.received.every((r) => r.contentType === 'application/x-protobuf'), 'http/protobuf');
      const metrics = parseExposition(await (await fetch(`http://127.0.0.1:${prom}/metrics`)).text());
      assert.equal(value(metrics, 'session_manager_sessions_created_total', { site: 'proc', client_type: 'mobile' }), 1);
    } finally {
      assert.equal(await c.stop(), 0);
    }
    for (const r of receiver.received) assert.ok(!r.body.includes(sessionId), 'a session id was exported');
    assert.ok(!c.output().includes(sessionId), 'a session id was logged');
    assert.deepEqual(problems(c.output()), []);
  });

  it('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: spans go to an OTLP/gRPC endpoint, and the RPC server spans are still there', async () => {
    const grpcReceiver = new OtlpGrpcReceiver();
    await grpcReceiver.start();
    const c = await startChild({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${grpcReceiver.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
    });
    try {
      const w = await workload(c);
      const traceId = Buffer.from(w.traceId, 'hex');
      await eventually(
        () => grpcReceiver.bodies.some((b) => b.includes(traceId) && b.includes('grpc.sessionmanager.v1.SessionService/ValidateSession')),
        { what: 'the validate’s server span over OTLP/gRPC' },
      );
      assert.ok(!Buffer.concat(grpcReceiver.bodies).includes('TraceService/Export'), 'the exporter does not trace itself');
    } finally {
      assert.equal(await c.stop(), 0);
      grpcReceiver.stop();
    }
    assert.deepEqual(problems(c.output()), []);
  });

  it('OTEL_SDK_DISABLED=true: no spans, no metrics endpoint, and the service works', async () => {
    const prom = await freePort();
    const c = await startChild({
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(prom),
    });
    try {
      await workload(c);
      await assert.rejects(fetch(`http://127.0.0.1:${prom}/metrics`), 'nothing listens on the metrics port');
    } finally {
      assert.equal(await c.stop(), 0);
    }
    assert.deepEqual(receiver.received, [], 'nothing exported (the shutdown flush included)');
    assert.deepEqual(problems(c.output()), []);
  });

  it('OTEL_TRACES_EXPORTER=none with OTEL_METRICS_EXPORTER=otlp: metrics over OTLP, no spans, no Prometheus endpoint', async () => {
    const prom = await freePort();
    const c = await startChild({
      OTEL_TRACES_EXPORTER: 'none',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(prom),
    });
    try {
      await workload(c);
      await eventually(() => receiver.bodies('/v1/metrics').some((b) => b.includes('session_manager_sessions_created')), { what: 'OTLP metrics' });
      await assert.rejects(fetch(`http://127.0.0.1:${prom}/metrics`));
    } finally {
      assert.equal(await c.stop(), 0);
    }
    assert.deepEqual(receiver.bodies('/v1/traces'), []);
  });

  it('with no OTLP endpoint configured nothing is exported and nothing complains', async () => {
    const prom = await freePort();
    const c = await startChild({ OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: String(prom) });
    try {
      await workload(c);
      const metrics = parseExposition(await (await fetch(`http://127.0.0.1:${prom}/metrics`)).text());
      assert.ok(value(metrics, 'session_manager_validate_verdicts_total', { verdict: 'VALID' })! >= 1);
    } finally {
      assert.equal(await c.stop(), 0);
    }
    assert.deepEqual(problems(c.output()), []);
  });
});
