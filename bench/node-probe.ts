// One session-manager node in its own process for the benchmarks and the soak (run with
// --expose-gc): times the cold start (the initial sync of every session in etcd), measures the heap
// the mirror takes, then serves. Talks JSON lines: prints {"event":"ready",...}; on stdin "stats"
// prints {"event":"stats",...}; with --sample-ms N prints {"event":"sample",...} every N ms.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { destination, pino } from 'pino';
import { loadConfigText, StaticConfigSource } from '../src/config/loader.js';
import { SessionNode } from '../src/node/session-node.js';
import { BENCH_PREFIX } from './lib.js';

const { values } = parseArgs({
  options: {
    etcd: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
    config: { type: 'string', default: '' },
    'node-id': { type: 'string', default: 'bench' },
    'sample-ms': { type: 'string', default: '0' },
  },
});

const gc = (globalThis as { gc?: () => void }).gc;
function settledHeap(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

const out = (m: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(m)}\n`);
const log = pino({ level: process.env['BENCH_LOG_LEVEL'] ?? 'warn' }, destination(2));
const node = new SessionNode({
  nodeId: values['node-id']!,
  listen: values.listen!,
  etcd: { endpoints: values.etcd!.split(','), requestTimeoutMs: 10_000 },
  prefix: BENCH_PREFIX,
  config: new StaticConfigSource(loadConfigText(values.config!.replace(/\\n/g, '\n'), 'bench')),
  logger: log,
  shutdownGraceMs: 2000,
  // The bench measures the session path; h2load sends no caller credential.
  allowAnonymous: true,
});

const eld = monitorEventLoopDelay({ resolution: 10 });
const heapBefore = settledHeap();
const t0 = performance.now();
await node.start();
const startMs = performance.now() - t0;
const heapAfter = settledHeap();
const sessions = node.cache.size;
eld.enable();
out({
  event: 'ready',
  port: node.port,
  startMs,
  sessions,
  heapBefore,
  heapAfter,
  heapPerSession: sessions ? (heapAfter - heapBefore) / sessions : 0,
  rss: process.memoryUsage().rss,
  gc: !!gc,
});

const stats = () => ({
  event: 'stats',
  verdicts: node.service.stats.verdicts,
  cacheHits: node.service.stats.cacheHits,
  cacheMisses: node.service.stats.cacheMisses,
  created: node.service.stats.created,
  touches: node.touches.stats,
  cacheSize: node.cache.size,
});

let buf = '';
process.stdin.on('data', (d: Buffer) => {
  buf += d.toString();
  let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const cmd = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (cmd === 'stats') out(stats());
    if (cmd === 'heap') out({ event: 'heap', heapUsed: settledHeap(), rss: process.memoryUsage().rss });
  }
});

const sampleMs = Number(values['sample-ms']);
if (sampleMs > 0) {
  setInterval(() => {
    const m = process.memoryUsage();
    out({
      event: 'sample',
      at: Date.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      eldP50Ms: eld.percentile(50) / 1e6,
      eldP99Ms: eld.percentile(99) / 1e6,
      eldMaxMs: eld.max / 1e6,
      cacheSize: node.cache.size,
      touchBacklog: node.touches.backlog,
    });
    eld.reset();
  }, sampleMs).unref();
}

process.on('SIGTERM', () => {
  void node.stop().finally(() => process.exit(0));
});
