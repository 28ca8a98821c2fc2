// The benchmarks (make bench): measures the figures of docs/PERFORMANCE.md against their baselines
// and targets, on loopback only, every load bounded in time or count, and rewrites that file.
//
// Env: BENCH_SCALES (default 10000,100000,1000000), BENCH_SECONDS (h2load duration, default 8),
// BENCH_OUT (default docs/PERFORMANCE.md), BENCH_PROFILE=0 to skip the CPU profiles, BENCH_HEADLINE=0 to
// skip the headline pairs (growth and memory figures only), BENCH_PAIRS (headline A/B pairs, default
// 3), BENCH_BASELINE_MAIN (another build's dist/src/main.js: adds a "before" row and profile).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ClientType } from '../src/gen/sessionmanager/v1/session.js';
import { CreateSessionRequest, ValidateSessionRequest, Verdict } from '../src/gen/sessionmanager/v1/session_service.js';
import { createSessionRequest, SessionApi } from '../src/transport/grpc/client.js';
import { EtcdCluster } from '../test/support/etcd.js';
import { BENCH_PREFIX, fillSessions, grpcFrame, h2load, inRepo, JsonChild, percentile, revisionOf, sessionCount, writeFile, type LoadResult } from './lib.js';
import { rawCreateBaseline } from './raw-create.js';
import { HEADLINE_LOAD, headlineMarkdown, runHeadline, type HeadlineResult } from './headline.js';

const SCALES = (process.env['BENCH_SCALES'] ?? '10000,100000,1000000').split(',').map(Number);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 8);
const OUT = process.env['BENCH_OUT'] ?? inRepo('docs/PERFORMANCE.md');
const PROFILE = process.env['BENCH_PROFILE'] !== '0';
/** The scale the headline RPC figures are taken at (the brief: 100k live sessions). */
const PAIRS = Number(process.env['BENCH_PAIRS'] ?? 3);
const HEADLINE = SCALES.includes(100_000) ? 100_000 : SCALES[Math.floor(SCALES.length / 2)]!;
const LOAD = { clients: 4, streams: 16 };
const CREATES = Number(process.env['BENCH_CREATES'] ?? 3000);
const SAME_USER_SECONDS = Number(process.env['BENCH_SAME_USER_SECONDS'] ?? 10);
const LOGOUT_TRIALS = Number(process.env['BENCH_LOGOUT_TRIALS'] ?? 200);
const PROBE = inRepo('dist/bench/node-probe.js');

const log = (s: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}`);
const tmp = mkdtempSync(join(tmpdir(), 'sm-bench-'));
const VALIDATE_PATH = '/sessionmanager.v1.SessionService/ValidateSession';
const CREATE_PATH = '/sessionmanager.v1.SessionService/CreateSession';

interface CreateFigures {
  node: { rps: number; p99Ms: number; done: number; codes: Record<string, number> };
  created: number;
  raw: { rps: number; p99Ms: number };
  /** Web logins (one session per user: a snapshot read, then the guarded txn), and the raw txn run right after them. */
  web: { rps: number; p99Ms: number; done: number; codes: Record<string, number> };
  rawAfter: { rps: number; p99Ms: number };
  sameUser: LoadResult;
  sameUserCreated: number;
}

interface ScaleResult {
  scale: number;
  startMs: number;
  heapPerSession: number;
  rssMb: number;
  sat: LoadResult;
  valids: number;
  writes: number;
}

async function startProbe(endpoint: string, extra: string[] = [], nodeId = 'bench'): Promise<{ child: JsonChild; ready: Record<string, unknown>; api: SessionApi }> {
  const child = new JsonChild([...extra, '--expose-gc', PROBE, '--etcd', endpoint, '--node-id', nodeId]);
  const ready = await child.wait('ready');
  const api = new SessionApi(`127.0.0.1:${ready['port']}`, { timeoutMs: 10_000 });
  return { child, ready, api };
}

/** A live session, validated twice so it has left the single-request regime (no more forced writes). */
async function hotSession(api: SessionApi): Promise<string> {
  const { sessionId } = await api.create({ site: 'default', user: 'bench-hot', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'bench', attributes: {} });
  for (let i = 0; i < 3; i++) if ((await api.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID) throw new Error('hot session not VALID');
  await new Promise((r) => setTimeout(r, 500));
  return sessionId;
}

async function main(): Promise<void> {
  log(`machine: ${cpus().length} × ${cpus()[0]?.model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; scales ${SCALES.join(' → ')}; h2load ${SECONDS}s, -c ${LOAD.clients} -m ${LOAD.streams} -t 1`);
  const etcd = await EtcdCluster.start({ extraArgs: ['--quota-backend-bytes', String(8 * 2 ** 30), '--snapshot-count', '100000'] });
  const ep = etcd.endpoints[0]!;
  const client = new Etcd3({ hosts: [ep] });
  const noop = new JsonChild([inRepo('dist/bench/noop-server.js')]);
  const children: JsonChild[] = [noop];
  const results: ScaleResult[] = [];
  let fixed: { rate: number; node: LoadResult; noop: LoadResult } | undefined;
  let create: CreateFigures | undefined;
  let logout: { p50: number; p99: number; max: number; trials: number } | undefined;
  let fillRates: string[] = [];
  let headline: HeadlineResult | undefined;
  try {
    const noopPort = (await noop.wait('ready'))['port'];
    const anyBody = writeFile(join(tmp, 'noop.bin'), grpcFrame(ValidateSessionRequest.encode(ValidateSessionRequest.fromPartial({ sessionId: 'x'.repeat(43) })).finish()));
    log('headline: chart-like nodes (default telemetry, caller auth) vs the no-op server and the Redis peer, A/B pairs');
    const baselineMain = process.env['BENCH_BASELINE_MAIN'];
    if (process.env['BENCH_HEADLINE'] !== '0') {
      headline = await runHeadline({ etcd: ep, tmp, seconds: SECONDS, pairs: PAIRS, log, revision: () => revisionOf(client), ...(PROFILE ? { profDir: join(tmp, 'prof') } : {}), ...(baselineMain ? { baselineMain } : {}) });
    }
    log('baseline: no-op grpc-js server, saturated');
    const noopSat = h2load({ url: `http://127.0.0.1:${noopPort}${VALIDATE_PATH}`, bodyFile: anyBody, ...LOAD, durationS: SECONDS, logFile: join(tmp, 'noop-sat.log') });
    log(`  no-op: ${noopSat.rps.toFixed(0)} req/s, p99 ${noopSat.p99Ms.toFixed(2)} ms`);

    for (const scale of SCALES) {
      const have = await sessionCount(client);
      if (have < scale) {
        log(`filling etcd ${have} → ${scale} session records`);
        const s = await fillSessions(client, have, scale - have);
        fillRates.push(`${scale - have} records in ${s.toFixed(1)} s (${((scale - have) / s).toFixed(0)}/s)`);
      }
      const { child, ready, api } = await startProbe(ep);
      children.push(child);
      log(`  ${scale}: cold start ${(Number(ready['startMs']) / 1000).toFixed(2)} s, ${ready['sessions']} sessions, heap/session ${Number(ready['heapPerSession']).toFixed(0)} B`);
      const id = await hotSession(api);
      const body = writeFile(join(tmp, `validate-${scale}.bin`), grpcFrame(ValidateSessionRequest.encode(ValidateSessionRequest.fromPartial({ sessionId: id })).finish()));
      const url = `http://127.0.0.1:${ready['port']}${VALIDATE_PATH}`;
      const s0 = await child.ask('stats', 'stats');
      const r0 = await revisionOf(client);
      const sat = h2load({ url, bodyFile: body, ...LOAD, durationS: SECONDS, logFile: join(tmp, `sat-${scale}.log`) });
      const r1 = await revisionOf(client);
      const s1 = await child.ask('stats', 'stats');
      const valids = (s1['verdicts'] as Record<string, number>)['VALID']! - (s0['verdicts'] as Record<string, number>)['VALID']!;
      results.push({ scale, startMs: Number(ready['startMs']), heapPerSession: Number(ready['heapPerSession']), rssMb: Number(ready['rss']) / 2 ** 20, sat, valids, writes: r1 - r0 });
      log(`  ${scale}: validate ${sat.rps.toFixed(0)} req/s (${valids} VALID of ${sat.done}), p99 ${sat.p99Ms.toFixed(2)} ms, etcd writes ${r1 - r0}`);

      if (scale === HEADLINE) {
        const rate = Math.floor((0.5 * Math.min(noopSat.rps, sat.rps)) / LOAD.clients);
        log(`  fixed rate ${rate * LOAD.clients} req/s on both`);
        const nodeFixed = h2load({ url, bodyFile: body, ...LOAD, rps: rate, durationS: SECONDS, logFile: join(tmp, 'fixed-node.log') });
        const noopFixed = h2load({ url: `http://127.0.0.1:${noopPort}${VALIDATE_PATH}`, bodyFile: anyBody, ...LOAD, rps: rate, durationS: SECONDS, logFile: join(tmp, 'fixed-noop.log') });
        fixed = { rate: rate * LOAD.clients, node: nodeFixed, noop: noopFixed };

        log(`  CreateSession: ${CREATES} logins of distinct users through the node, then the same txns raw`);
        const c0 = await child.ask('stats', 'stats');
        const node = await createLoad(api, CREATES, LOAD.clients * LOAD.streams, ClientType.CLIENT_TYPE_MOBILE);
        const c1 = await child.ask('stats', 'stats');
        const raw = await rawCreateBaseline(ep, CREATES, LOAD.clients * LOAD.streams);
        log(`  create: node ${node.rps.toFixed(0)}/s, raw ${raw.rps.toFixed(0)}/s`);
        const web = await createLoad(api, CREATES, LOAD.clients * LOAD.streams, ClientType.CLIENT_TYPE_WEB);
        const rawAfter = await rawCreateBaseline(ep, CREATES, LOAD.clients * LOAD.streams);
        log(`  create (web, one session per user): node ${web.rps.toFixed(0)}/s, raw ${rawAfter.rps.toFixed(0)}/s`);
        const c1b = await child.ask('stats', 'stats');
        const cbody = writeFile(
          join(tmp, 'create.bin'),
          grpcFrame(CreateSessionRequest.encode(createSessionRequest({ site: 'default', user: 'bench-same-user', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'bench' })).finish()),
        );
        // Bounded by time, not count: web is one session per user, so every login reads the user's
        // sessions and replaces the one before it.
        const sameUser = h2load({ url: `http://127.0.0.1:${ready['port']}${CREATE_PATH}`, bodyFile: cbody, ...LOAD, durationS: SAME_USER_SECONDS, warmupS: 1, logFile: join(tmp, 'create-same.log') });
        const c2 = await child.ask('stats', 'stats');
        create = { node, created: Number(c1['created']) - Number(c0['created']), raw, web, rawAfter, sameUser, sameUserCreated: Number(c2['created']) - Number(c1b['created']) };

        log(`  logout on A → refused on B, ${LOGOUT_TRIALS} trials`);
        const b = await startProbe(ep, [], 'bench-b');
        children.push(b.child);
        logout = await logoutPropagation(api, b.api);
        b.api.close();
        await b.child.stop();

      }
      api.close();
      await child.stop();
    }
    writeReport({ noopSat, headline, results, fixed, create, logout, fillRates });
    log(`wrote ${OUT}`);
  } finally {
    for (const c of children) await c.stop().catch(() => {});
    client.close();
    await etcd.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Logs in `count` distinct users through `api` with `inflight` calls in flight. */
async function createLoad(api: SessionApi, count: number, inflight: number, clientType: ClientType): Promise<CreateFigures['node']> {
  const lat: number[] = [];
  const codes: Record<string, number> = {};
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < count) {
        const i = next++;
        const s = performance.now();
        try {
          await api.create({ site: 'default', user: `login-${clientType}-${i}`, clientType, deviceId: 'bench' });
          codes['OK'] = (codes['OK'] ?? 0) + 1;
        } catch (err) {
          const c = String((err as { code?: number }).code);
          codes[c] = (codes[c] ?? 0) + 1;
        }
        lat.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: count / seconds, p99Ms: percentile(lat, 0.99), done: count, codes };
}

/** Creates a session on A, waits until B serves it, ends it on A and times until B refuses it. */
async function logoutPropagation(a: SessionApi, b: SessionApi): Promise<{ p50: number; p99: number; max: number; trials: number }> {
  const lat: number[] = [];
  const deadline = Date.now() + 120_000;
  for (let i = 0; i < LOGOUT_TRIALS && Date.now() < deadline; i++) {
    const { sessionId } = await a.create({ site: 'default', user: `logout-${i}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'bench', attributes: {} });
    while ((await b.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID) await new Promise((r) => setTimeout(r, 1));
    await a.end({ sessionId });
    const t0 = performance.now();
    for (let k = 0; k < 100_000; k++) {
      if ((await b.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID) break;
    }
    lat.push(performance.now() - t0);
  }
  lat.sort((x, y) => x - y);
  return { p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: lat[lat.length - 1] ?? NaN, trials: lat.length };
}

const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '–');
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '–');
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**missed**');

function writeReport(r: {
  noopSat: LoadResult;
  headline: HeadlineResult | undefined;
  results: ScaleResult[];
  fixed?: { rate: number; node: LoadResult; noop: LoadResult };
  create?: CreateFigures;
  logout?: { p50: number; p99: number; max: number; trials: number };
  fillRates: string[];
}): void {
  const head = r.results.find((x) => x.scale === HEADLINE);
  const big = r.results[r.results.length - 1];
  const rows: string[][] = [];
  if (head) {
    rows.push([`ValidateSession, telemetry-free node-probe (growth runs only, not a headline figure), ${HEADLINE.toLocaleString('en')} sessions`, `${f0(head.sat.rps)} req/s, p99 ${f2(head.sat.p99Ms)} ms`, `no-op grpc-js: ${f0(r.noopSat.rps)} req/s`, `${f2(head.sat.rps / r.noopSat.rps)}×`, 'informational', '–']);
    if (r.fixed) {
      const fr = r.fixed.node.p99Ms / r.fixed.noop.p99Ms;
      rows.push([`p99 latency at a fixed ${f0(r.fixed.rate)} req/s (half the lower saturated rate; node-probe)`, `${f2(r.fixed.node.p99Ms)} ms`, `no-op: ${f2(r.fixed.noop.p99Ms)} ms`, `${f2(fr)}×`, '≤ 1.5× no-op', verdict(fr <= 1.5)]);
    }
    const wpv = head.valids ? head.writes / head.valids : NaN;
    rows.push([`etcd writes per validate, steady state (revision delta ${head.writes} / ${head.valids} VALID)`, f2(wpv * 1000) + ' per 1000', '–', '–', '≤ 0.01 per validate', verdict(wpv <= 0.01)]);
  }
  if (r.create) {
    const cr = r.create.node.rps / r.create.raw.rps;
    rows.push([`CreateSession throughput, distinct users, mobile (no per-user rule; ${r.create.created} created of ${r.create.node.done}; ${JSON.stringify(r.create.node.codes)}), p99 ${f2(r.create.node.p99Ms)} ms`, `${f0(r.create.node.rps)} req/s`, `raw etcd3 txn, same puts: ${f0(r.create.raw.rps)} txn/s, p99 ${f2(r.create.raw.p99Ms)} ms`, `${f2(cr)}×`, '≥ 0.5× raw', verdict(cr >= 0.5)]);
    const wr = r.create.web.rps / r.create.rawAfter.rps;
    rows.push([`CreateSession throughput, distinct users, web (one session per user: snapshot read + guarded txn; ${JSON.stringify(r.create.web.codes)}), p99 ${f2(r.create.web.p99Ms)} ms`, `${f0(r.create.web.rps)} req/s`, `raw etcd3 txn, same puts: ${f0(r.create.rawAfter.rps)} txn/s`, `${f2(wr)}×`, 'informational (two round trips by design)', '–']);
    rows.push([`CreateSession, logins of one user for ${SAME_USER_SECONDS} s (${LOAD.clients * LOAD.streams} in flight, h2load): sessions created / requests answered`, `${r.create.sameUserCreated} / ${r.create.sameUser.done}, p99 ${f2(r.create.sameUser.p99Ms)} ms`, '–', '–', 'informational', '–']);
  }
  if (big) {
    rows.push([`heap per cached session at ${big.scale.toLocaleString('en')} sessions`, `${f0(big.heapPerSession)} B`, '–', '–', '≤ 400 B', verdict(big.heapPerSession <= 400)]);
    const s = big.startMs / 1000;
    rows.push([`cold start syncing ${big.scale.toLocaleString('en')} sessions`, `${f2(s)} s (${f0(big.scale / s)} sessions/s)`, '–', '–', '≤ 30 s', verdict(s <= 30)]);
  }
  if (r.logout) {
    rows.push([`logout on node A → refused on node B, p99 of ${r.logout.trials}`, `${f2(r.logout.p99)} ms (p50 ${f2(r.logout.p50)}, max ${f2(r.logout.max)})`, '–', '–', '≤ 50 ms', verdict(r.logout.p99 <= 50)]);
  }
  const table = (hdr: string[], body: string[][]) => [`| ${hdr.join(' | ')} |`, `|${hdr.map(() => '---').join('|')}|`, ...body.map((x) => `| ${x.join(' | ')} |`)].join('\n');
  const md = `# Performance

Generated by \`make bench\` (bench/run.ts) on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, one etcd member (${'3.4'}) on loopback. The load generator (h2load, one thread), the node and etcd share the two cores, so absolute numbers are low; the ratios against a baseline measured in the same run under the same load are the figures that matter.

RPC load comes from \`h2load -c ${LOAD.clients} -m ${LOAD.streams} -t 1 -D ${SECONDS} --warm-up-time 2\` sending pre-encoded gRPC frames (\`-H 'content-type: application/grpc' -H 'te: trailers' -d <5-byte prefix + protobuf>\`). Latency percentiles come from h2load's per-request \`--log-file\`. The RPC baseline is a no-op grpc-js server (bench/noop-server.ts: the same generated service definition, ValidateSession returning one constant response of the same shape). Every h2load request validates the same live session (h2load sends one body), so the figure is the hot path of a cache hit with ${HEADLINE.toLocaleString('en')} sessions in the mirror; the node's own counters confirm each answer was VALID.

## Headline: ValidateSession and Heartbeat as the chart runs them

Nodes started as the Helm chart starts them: \`node dist/src/main.js\` with the chart's default environment (\`OTEL_METRICS_EXPORTER=prometheus\`, \`OTEL_TRACES_EXPORTER=none\`, \`OTEL_TRACES_SAMPLER=parentbased_always_on\`, service name and resource attributes) and caller authentication on (a caller policy with a token file; h2load sends \`authorization: Bearer …\` on every request, and so to the baselines). The traced row is the same node with \`OTEL_TRACES_EXPORTER=otlp\`, \`OTEL_TRACES_SAMPLER=always_on\` and OTLP/HTTP to a local sink that discards (bench/otlp-sink.ts). Baselines: the no-op grpc-js server (bench/noop-server.ts) and a lean Redis peer (bench/redis-peer.ts: grpc-js + ioredis with auto-pipelining, one \`GETEX key PX ttl\` per call against Debian's redis-server, the stored response bytes returned as they are). Both baselines and the node run grpc-js with the same transport settings (channelz off: none of them serves channelz), so the no-op server stays the floor. Load \`h2load -c ${HEADLINE_LOAD.clients} -m ${HEADLINE_LOAD.streams} -t 1\`, one live session. Ratios are per pair (rows run back to back); the median is reported and every pair listed.

${r.headline ? headlineMarkdown(r.headline) : 'not measured'}

## Figures

${table(['figure', 'measured', 'baseline', 'ratio', 'target', 'verdict'], rows)}

## Growth

${table(
  ['sessions in etcd', 'cold start', 'sessions/s', 'heap per session', 'RSS after sync', 'validate req/s', 'validate p99'],
  r.results.map((x) => [x.scale.toLocaleString('en'), `${f2(x.startMs / 1000)} s`, f0(x.scale / (x.startMs / 1000)), `${f0(x.heapPerSession)} B`, `${f0(x.rssMb)} MiB`, f0(x.sat.rps), `${f2(x.sat.p99Ms)} ms`]),
)}

Heap per session = (heap after the initial sync − heap before it) / sessions, both after forced GCs (\`--expose-gc\`); at small scales the fixed cost of the node's own structures inflates it. etcd was filled directly with encoded records (src/store/etcd/codec.ts \`encodeSession\`, mobile sessions, no lease): ${r.fillRates.join('; ') || 'already filled'}.

## Reading the figures

See the "Analysis" section below (kept by hand; the tables above are regenerated by \`make bench\`).
`;
  writeFileSync(OUT, md + ANALYSIS);
}

/** Hand-written analysis appended to the generated report (bench/analysis.md). */
let ANALYSIS = '';
try {
  ANALYSIS = '\n' + (await import('node:fs')).readFileSync(inRepo('bench/analysis.md'), 'utf8');
} catch {
  ANALYSIS = '';
}

const watchdog = setTimeout(() => {
  console.error('bench: gave up after 40 minutes');
  process.exit(2);
}, 40 * 60_000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
export { BENCH_PREFIX };
