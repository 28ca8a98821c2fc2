// The headline figures of the benchmarks: session-manager nodes started the way the Helm chart starts
// them (`node dist/src/main.js`, the chart's default OTEL_* environment: Prometheus metrics on, traces
// not exported; caller authentication on, a bearer token per call), against the no-op grpc-js floor
// and a lean Redis-backed peer (bench/redis-peer.ts), in back-to-back A/B pairs under the same
// h2load load. Used by bench/run.ts (make bench) and, alone, by `make bench-quick` (BENCH_QUICK=1).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ClientType } from '../src/gen/sessionmanager/v1/session.js';
import { HeartbeatRequest, ValidateSessionRequest, ValidateSessionResponse, Verdict } from '../src/gen/sessionmanager/v1/session_service.js';
import { SessionApi } from '../src/transport/grpc/client.js';
import { readdirSync, readFileSync } from 'node:fs';
import { grpcFrame, h2load, inRepo, JsonChild, topFunctions, writeFile, type LoadResult } from './lib.js';
import { f0, headlineMarkdown } from './headline-report.js';

/** h2load's load of every headline row (the issue's `-c 4 -m 32 -t 1`). */
export const HEADLINE_LOAD = { clients: 4, streams: 32 };
const VALIDATE_PATH = '/sessionmanager.v1.SessionService/ValidateSession';
const HEARTBEAT_PATH = '/sessionmanager.v1.SessionService/Heartbeat';

/** One A/B pair: every row measured back to back. */
export interface HeadlinePair {
  noop: LoadResult;
  peer: LoadResult;
  node: LoadResult;
  traced: LoadResult;
  /** The same node built from an older commit (BENCH_BASELINE_MAIN), when asked for. */
  before?: LoadResult;
  noopHeartbeat: LoadResult;
  heartbeat: LoadResult;
  /**
   * Server CPU (user + system) per request of each row, in µs: the serving processes' CPU over the
   * row (warm-up included) ÷ (req/s × row length). Steadier than req/s on a shared machine, where
   * another process's burst moves the rate but not the work each request costs. The peer's figure
   * includes redis-server's CPU.
   */
  cpuUs?: Partial<Record<'noop' | 'peer' | 'node' | 'traced' | 'before' | 'noopHeartbeat' | 'heartbeat', number>>;
}

/** Clock ticks per second of /proc/<pid>/stat times. */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc (NaN where there is none). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** What the headline run measured. */
export interface HeadlineResult {
  pairs: HeadlinePair[];
  /** etcd revisions advanced per VALID answered by the default node during its validate rows. */
  writesPerValidate: number;
  valids: number;
  spansExported: { requests: number; bytes: number };
  seconds: number;
  /**
   * `node --cpu-prof` of a chart-default node (and of the BENCH_BASELINE_MAIN build, as `before`)
   * under one validate and one heartbeat row, taken after the pairs by nodes of their own so that
   * profiling never slows a measured row. Absent unless asked for (profDir).
   */
  profiles?: { after: TopFunction[]; before?: TopFunction[] };
}

/** One line of a CPU profile summary (bench/lib.ts topFunctions). */
export type TopFunction = { fn: string; selfPct: number };

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The chart's default OTEL_* environment (helm/session-manager/templates/deployment.yaml, default values). */
export function chartTelemetryEnv(metricsPort: number): NodeJS.ProcessEnv {
  return {
    OTEL_SERVICE_NAME: 'session-manager',
    OTEL_RESOURCE_ATTRIBUTES: 'k8s.namespace.name=bench,k8s.pod.name=bench-0,k8s.deployment.name=session-manager,service.instance.id=bench-0',
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
    OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
    OTEL_TRACES_EXPORTER: 'none',
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    SM_LOG_LEVEL: 'info',
  };
}

/** A session-manager process as the chart runs it, with caller authentication and one bearer token. */
export class ChartNode {
  private constructor(
    readonly child: JsonChild,
    readonly port: number,
    readonly metricsPort: number,
  ) {}

  static async start(o: { etcd: string; prefix: string; nodeId: string; policyFile: string; env?: NodeJS.ProcessEnv; extraNodeArgs?: string[]; main?: string }): Promise<ChartNode> {
    const port = await freePort();
    const metricsPort = await freePort();
    const env = { ...stripOtel(process.env), ...chartTelemetryEnv(metricsPort), ...(o.env ?? {}) };
    const child = new JsonChild(
      [...(o.extraNodeArgs ?? []), o.main ?? inRepo('dist/src/main.js'), '--listen', `127.0.0.1:${port}`, '--etcd-endpoints', o.etcd, '--etcd-prefix', o.prefix, '--node-id', o.nodeId, '--auth-policy-file', o.policyFile],
      env,
    );
    await child.waitFor((m) => m['msg'] === 'serving', 300_000);
    return new ChartNode(child, port, metricsPort);
  }

  /** A counter of the node's Prometheus endpoint, summed over the series whose labels contain `match`. */
  async counter(name: string, match = ''): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(name) && line.includes(match)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  }
}

function stripOtel(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('SM_')));
}

/** Writes a caller policy with one caller `bench` (every class, every site) and its token file; returns the token. */
export function writeCallerPolicy(dir: string): { policyFile: string; token: string } {
  const token = randomBytes(24).toString('base64url');
  const tokenFile = join(dir, 'bench.token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const policyFile = join(dir, 'callers.json');
  writeFileSync(policyFile, JSON.stringify({ callers: { bench: { tokenFiles: [tokenFile], allow: ['validate', 'login', 'admin'], sites: '*' } } }));
  return { policyFile, token };
}

/** Starts redis-server (Debian's) on a free port with persistence off. */
export async function startRedis(): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) (clearTimeout(t), resolve());
    });
    proc.once('exit', (c) => (clearTimeout(t), reject(new Error(`redis-server exited ${c}: ${out}`))));
  });
  return { proc, port };
}

/**
 * Runs the headline pairs: starts the no-op server, redis-server and the Redis peer, a node with the
 * chart's default telemetry and a node exporting every span to a local OTLP sink, makes one live
 * session, and measures `pairs` rounds of every row back to back.
 */
export async function runHeadline(o: { etcd: string; tmp: string; seconds: number; pairs: number; log: (s: string) => void; revision: () => Promise<number>; profDir?: string; baselineMain?: string }): Promise<HeadlineResult> {
  const stops: Array<() => Promise<void>> = [];
  try {
    const { policyFile, token } = writeCallerPolicy(o.tmp);
    const auth = [`authorization: Bearer ${token}`];
    const noop = new JsonChild([inRepo('dist/bench/noop-server.js')]);
    stops.push(() => noop.stop());
    const sink = new JsonChild([inRepo('dist/bench/otlp-sink.js')]);
    stops.push(() => sink.stop());
    const redis = await startRedis();
    stops.push(async () => void redis.proc.kill('SIGTERM'));
    const prefix = `/sm-bench-headline-${Date.now()}/`;
    const node = await ChartNode.start({ etcd: o.etcd, prefix, nodeId: 'bench-default', policyFile });
    stops.push(() => node.child.stop());
    const sinkPort = (await sink.wait('ready'))['port'];
    const traced = await ChartNode.start({
      etcd: o.etcd,
      prefix,
      nodeId: 'bench-traced',
      policyFile,
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_TRACES_SAMPLER: 'always_on' },
    });
    stops.push(() => traced.child.stop());
    const before = o.baselineMain ? await ChartNode.start({ etcd: o.etcd, prefix, nodeId: 'bench-before', policyFile, main: o.baselineMain }) : undefined;
    if (before) {
      stops.push(() => before.child.stop());
      o.log(`  before-node pid ${before.child.proc.pid}, this node pid ${node.child.proc.pid}`);
    }

    const api = new SessionApi(`127.0.0.1:${node.port}`, { timeoutMs: 10_000, token });
    const tapi = new SessionApi(`127.0.0.1:${traced.port}`, { timeoutMs: 10_000, token });
    stops.push(async () => (api.close(), tapi.close()));
    const { sessionId } = await api.create({ site: 'default', user: 'bench-hot', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'bench', attributes: {} });
    let answer: ValidateSessionResponse | undefined;
    // Three validates: the first two are compare-and-swapped (single-request regime), then coalesced.
    for (let i = 0; i < 3; i++) answer = await api.validate({ sessionId });
    for (let i = 0; i < 3; i++) if ((await tapi.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID) throw new Error('traced node: hot session not VALID');
    if (answer?.verdict !== Verdict.VERDICT_VALID) throw new Error('hot session not VALID');
    if (before) {
      const bapi = new SessionApi(`127.0.0.1:${before.port}`, { timeoutMs: 10_000, token });
      for (let i = 0; i < 3; i++) if ((await bapi.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID) throw new Error('before node: hot session not VALID');
      bapi.close();
    }
    const stored = Buffer.from(ValidateSessionResponse.encode(answer).finish());
    const peer = new JsonChild([inRepo('dist/bench/redis-peer.js'), String(redis.port), sessionId, stored.toString('base64')]);
    stops.push(() => peer.stop());
    const [noopPort, peerPort] = [(await noop.wait('ready'))['port'], (await peer.wait('ready'))['port']];

    const vbody = writeFile(join(o.tmp, 'h-validate.bin'), grpcFrame(ValidateSessionRequest.encode(ValidateSessionRequest.fromPartial({ sessionId })).finish()));
    const hbody = writeFile(join(o.tmp, 'h-heartbeat.bin'), grpcFrame(HeartbeatRequest.encode({ sessionId, instanceId: 'bench-instance', client: undefined }).finish()));
    const run = (name: string, port: unknown, path: string, body: string) =>
      h2load({ url: `http://127.0.0.1:${port}${path}`, bodyFile: body, ...HEADLINE_LOAD, headers: auth, durationS: o.seconds, logFile: join(o.tmp, `h-${name}.log`) });
    const WARMUP_S = 2;
    /** A row, with the CPU its serving processes used per request. */
    const measured = (name: string, port: unknown, path: string, body: string, pids: Array<number | undefined>): [LoadResult, number] => {
      const c0 = pids.reduce<number>((a, pid) => a + cpuSeconds(pid), 0);
      const r = run(name, port, path, body);
      const c1 = pids.reduce<number>((a, pid) => a + cpuSeconds(pid), 0);
      return [r, ((c1 - c0) * 1e6) / (r.rps * (o.seconds + WARMUP_S))];
    };
    const pairs: HeadlinePair[] = [];
    let writes = 0;
    let valids = 0;
    for (let i = 0; i < o.pairs; i++) {
      const [n, cNoop] = measured('noop', noopPort, VALIDATE_PATH, vbody, [noop.proc.pid]);
      const [p, cPeer] = measured('peer', peerPort, VALIDATE_PATH, vbody, [peer.proc.pid, redis.proc.pid]);
      const v0 = await node.counter('session_manager_validate_verdicts_total', 'verdict="VALID"');
      const r0 = await o.revision();
      const [d, cNode] = measured('node', node.port, VALIDATE_PATH, vbody, [node.child.proc.pid]);
      const r1 = await o.revision();
      const v1 = await node.counter('session_manager_validate_verdicts_total', 'verdict="VALID"');
      writes += r1 - r0;
      valids += v1 - v0;
      const [t, cTraced] = measured('traced', traced.port, VALIDATE_PATH, vbody, [traced.child.proc.pid]);
      const [b, cBefore] = before ? measured('before', before.port, VALIDATE_PATH, vbody, [before.child.proc.pid]) : [undefined, undefined];
      const [nh, cNoopHb] = measured('noop-hb', noopPort, HEARTBEAT_PATH, hbody, [noop.proc.pid]);
      const [h, cHb] = measured('heartbeat', node.port, HEARTBEAT_PATH, hbody, [node.child.proc.pid]);
      for (const [k, r] of Object.entries({ noop: n, peer: p, node: d, traced: t, noopHb: nh, heartbeat: h })) if (r.failed > 0 || r.done === 0) throw new Error(`${k}: ${r.failed} of ${r.done} requests failed`);
      const cpuUs = { noop: cNoop, peer: cPeer, node: cNode, traced: cTraced, noopHeartbeat: cNoopHb, heartbeat: cHb, ...(b ? { before: cBefore } : {}) };
      pairs.push({ noop: n, peer: p, node: d, traced: t, noopHeartbeat: nh, heartbeat: h, ...(b ? { before: b } : {}), cpuUs });
      o.log(
        `  pair ${i + 1}: no-op ${n.rps.toFixed(0)}, redis peer ${p.rps.toFixed(0)}, node ${d.rps.toFixed(0)} (${(d.rps / n.rps).toFixed(2)}× no-op, ${(d.rps / p.rps).toFixed(2)}× peer), ` +
          `traced ${t.rps.toFixed(0)} (${(t.rps / n.rps).toFixed(2)}×), heartbeat ${h.rps.toFixed(0)} vs no-op ${nh.rps.toFixed(0)} (${(h.rps / nh.rps).toFixed(2)}×) req/s` +
          (b ? `, before-change node ${b.rps.toFixed(0)} (${(b.rps / n.rps).toFixed(2)}× no-op)` : '') +
          `; server CPU µs/request: no-op ${f0(cNoop)}, peer+redis ${f0(cPeer)}, node ${f0(cNode)}, traced ${f0(cTraced)}${b ? `, before ${f0(cBefore!)}` : ''}, no-op hb ${f0(cNoopHb)}, node hb ${f0(cHb)}`,
      );
    }
    const s = await sink.ask('stats', 'stats');
    const result: HeadlineResult = { pairs, writesPerValidate: valids > 0 ? writes / valids : NaN, valids, spansExported: { requests: Number(s['requests']), bytes: Number(s['bytes']) }, seconds: o.seconds };
    if (o.profDir) {
      // Profiled by nodes of their own, after the pairs: the measured rows ran unprofiled.
      const profile = async (name: string, main?: string): Promise<TopFunction[]> => {
        const dir = join(o.profDir!, name);
        const p = await ChartNode.start({ etcd: o.etcd, prefix, nodeId: `bench-prof-${name}`, policyFile, extraNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`], ...(main ? { main } : {}) });
        try {
          run(`prof-${name}-validate`, p.port, VALIDATE_PATH, vbody);
          run(`prof-${name}-heartbeat`, p.port, HEARTBEAT_PATH, hbody);
        } finally {
          await p.child.stop();
        }
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        return file ? topFunctions(join(dir, file), 20) : [];
      };
      o.log('  CPU profiles (node --cpu-prof, one validate and one heartbeat row each)');
      result.profiles = { after: await profile('after'), ...(o.baselineMain ? { before: await profile('before', o.baselineMain) } : {}) };
    }
    return result;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  }
}

export { headlineMarkdown, profilesMarkdown } from './headline-report.js';

// BENCH_QUICK=1: only these pairs, at a small scale (one etcd, one session), printed to stdout.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/dist\//, '/dist/'))) {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { Etcd3 } = await import('etcd3');
  const { EtcdCluster } = await import('../test/support/etcd.js');
  const { revisionOf } = await import('./lib.js');
  const tmp = mkdtempSync(join(tmpdir(), 'sm-bench-quick-'));
  const log = (s: string) => console.log(`[bench-quick ${new Date().toISOString().slice(11, 19)}] ${s}`);
  const etcd = await EtcdCluster.start();
  const client = new Etcd3({ hosts: [etcd.endpoints[0]!] });
  try {
    const profDir = process.env['BENCH_CPU_PROF_DIR'];
    const baselineMain = process.env['BENCH_BASELINE_MAIN'];
    const r = await runHeadline({ etcd: etcd.endpoints[0]!, tmp, seconds: Number(process.env['BENCH_SECONDS'] ?? 4), pairs: Number(process.env['BENCH_PAIRS'] ?? 3), log, revision: () => revisionOf(client), ...(profDir ? { profDir } : {}), ...(baselineMain ? { baselineMain } : {}) });
    console.log(headlineMarkdown(r));
  } finally {
    client.close();
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(0);
}
