// Shared pieces of the benchmarks: child processes that print JSON lines, h2load runs over
// pre-encoded gRPC frames, percentiles, and filling etcd with encoded session records.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3, type IRequestOp } from 'etcd3';
import { defaultClusterPolicy } from '../src/config/schema.js';
import { sessionPolicyFor } from '../src/domain/policy.js';
import { newSessionRecord } from '../src/domain/session.js';
import { encodeSession } from '../src/store/etcd/codec.js';
import { Keys } from '../src/store/etcd/keys.js';

/** The repository root (this file runs from dist/bench/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The etcd prefix every benchmark node uses. */
export const BENCH_PREFIX = '/sm-bench/';

/** A child process that reports through JSON lines on stdout. */
export class JsonChild {
  readonly proc: ChildProcess;
  private readonly waiters: Array<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = [];
  readonly messages: Array<Record<string, unknown>> = [];
  stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let buf = '';
    this.proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: Record<string, unknown>;
        try {
          m = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        this.messages.push(m);
        for (const w of [...this.waiters]) {
          if (w.pred(m)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
  }

  /** Waits for a message with `event` (default deadline 10 minutes). */
  wait(event: string, timeoutMs = 600_000): Promise<Record<string, unknown>> {
    const seen = this.messages.find((m) => m['event'] === event);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.proc.once('exit', (code) => reject(new Error(`exited ${code} before "${event}"; stderr: ${this.stderr}`)));
      this.waiters.push({ pred: (m) => m['event'] === event, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  /** Waits for a message `pred` accepts (e.g. a pino log line of the node), up to `timeoutMs`. */
  waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs = 600_000): Promise<Record<string, unknown>> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no awaited message within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.proc.once('exit', (code) => reject(new Error(`exited ${code} before the awaited message; stderr: ${this.stderr}`)));
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
    });
  }

  /** Sends one command line on stdin and waits for the reply event. */
  async ask(command: string, replyEvent: string): Promise<Record<string, unknown>> {
    const before = this.messages.length;
    const p = new Promise<Record<string, unknown>>((resolve) => {
      const check = () => {
        const m = this.messages.slice(before).find((x) => x['event'] === replyEvent);
        if (m) resolve(m);
        else setTimeout(check, 20);
      };
      check();
    });
    this.proc.stdin!.write(`${command}\n`);
    return p;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }
}

/** Wraps a protobuf message in the 5-byte gRPC length prefix (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, Buffer.from(message)]);
}

/** One h2load result: throughput and latency percentiles from its per-request log. */
export interface LoadResult {
  rps: number;
  done: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  seconds: number;
}

/** Options of one h2load run; it stops by itself after `durationS` or `requests`. */
export interface LoadOptions {
  url: string;
  bodyFile: string;
  clients: number;
  streams: number;
  durationS?: number;
  warmupS?: number;
  requests?: number;
  /** Requests per second per client (fixed-rate mode). */
  rps?: number;
  /** Extra request headers (`name: value`), e.g. the caller's `authorization: Bearer …`. */
  headers?: string[];
  logFile: string;
}

/** Runs h2load with pre-encoded gRPC frames and parses its summary and per-request log. */
export function h2load(o: LoadOptions): LoadResult {
  const args = [
    '-c', String(o.clients),
    '-m', String(o.streams),
    '-t', '1',
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '-d', o.bodyFile,
    `--log-file=${o.logFile}`,
  ];
  for (const h of o.headers ?? []) args.push('-H', h);
  if (o.requests !== undefined) args.push('-n', String(o.requests));
  else args.push('-D', String(o.durationS ?? 8), '--warm-up-time', String(o.warmupS ?? 2));
  if (o.rps !== undefined) args.push(`--rps=${o.rps}`);
  args.push(o.url);
  const r = spawnSync('h2load', args, { encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`h2load failed (${r.status}): ${r.stderr || r.error?.message}\n${r.stdout}`);
  const fin = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(r.stdout);
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.stdout);
  if (!fin || !req) throw new Error(`cannot parse h2load output:\n${r.stdout}`);
  const lat = readFileSync(o.logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => Number(l.split('\t')[2]) / 1000)
    .sort((a, b) => a - b);
  return {
    rps: Number(fin[3]),
    seconds: Number(fin[1]) / (fin[2] === 'ms' ? 1000 : 1),
    done: Number(req[3]),
    failed: Number(req[5]) + Number(req[6]),
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    maxMs: lat[lat.length - 1] ?? 0,
  };
}

/** The q-quantile of sorted numbers (nearest rank). */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The current etcd revision. */
export async function revisionOf(client: Etcd3): Promise<number> {
  return Number((await client.get('/sm-bench-rev-probe').exec()).header.revision);
}

/** Number of session records under the bench prefix. */
export async function sessionCount(client: Etcd3): Promise<number> {
  return Number(await client.getAll().prefix(`${BENCH_PREFIX}s/`).count());
}

/**
 * Fills etcd with `count` encoded session records numbered from `from` (mobile, created now, no
 * lease), 128 puts per txn (etcd's --max-txn-ops), `parallel` txns in flight.
 */
export async function fillSessions(client: Etcd3, from: number, count: number, parallel = 8): Promise<number> {
  const keys = new Keys(BENCH_PREFIX);
  const policy = sessionPolicyFor(defaultClusterPolicy(), 'mobile');
  const now = Date.now();
  const t0 = performance.now();
  let next = from;
  const end = from + count;
  const worker = async () => {
    while (next < end) {
      const ops: IRequestOp[] = [];
      for (let k = 0; k < 128 && next < end; k++, next++) {
        const hash = createHash('sha256').update(`bench-${next}`).digest('base64url');
        const rec = newSessionRecord({ site: 'default', user: `user-${next % 100_000}`, clientType: 'mobile', deviceId: 'bench', policy, attributeNames: [], now });
        ops.push({ request_put: { key: Buffer.from(keys.session(hash)), value: Buffer.from(encodeSession(rec)) } });
      }
      await client.kv.txn({ compare: [], success: ops, failure: [] });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return (performance.now() - t0) / 1000;
}

/** Writes a file and returns its path. */
export function writeFile(path: string, data: Buffer | string): string {
  writeFileSync(path, data);
  return path;
}

/** Summarises a .cpuprofile: the functions with the most self time, as shares of the non-idle samples. */
export function topFunctions(profilePath: string, n = 12): Array<{ fn: string; selfPct: number }> {
  const prof = JSON.parse(readFileSync(profilePath, 'utf8')) as {
    nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
    samples: number[];
  };
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  const self = new Map<string, number>();
  for (const id of prof.samples) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    const where = cf.url ? cf.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1') : '';
    const fn = `${cf.functionName || '(anonymous)'}${where ? ` ${where}:${cf.lineNumber + 1}` : ''}`;
    self.set(fn, (self.get(fn) ?? 0) + 1);
  }
  // Shares of the busy samples: an idle process would otherwise dilute every figure.
  const total = prof.samples.length - (self.get('(idle)') ?? 0) || 1;
  self.delete('(idle)');
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, c]) => ({ fn, selfPct: (100 * c) / total }));
}

/** Joins path parts under the repository. */
export const inRepo = (...parts: string[]): string => join(REPO, ...parts);
