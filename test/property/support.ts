// Helpers shared by the property, fault and interop suites: in-process nodes whose logs are kept in
// memory, gRPC outcomes as plain values, and the secrets scan over logs and the whole etcd keyspace.
import { spawnSync } from 'node:child_process';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import type { ConfigSource } from '../../src/domain/ports.js';
import type { Clock } from '../../src/domain/clock.js';
import { SessionNode } from '../../src/node/session-node.js';
import { SessionApi } from '../../src/transport/grpc/client.js';
import { ERROR_DOMAIN, errorInfoOf, REASON_TO_STATUS } from '../../src/transport/grpc/status.js';
import { configOf } from '../support/nodes.js';

/** Every status code a SessionService RPC may answer today (docs/faults.md lists them with reasons). */
export const DOCUMENTED_CODES: ReadonlySet<number> = new Set([
  status.OK,
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.FAILED_PRECONDITION,
  status.ABORTED,
  status.RESOURCE_EXHAUSTED,
]);

/** CapturedLogs keeps every log line of the nodes it is given, at the most verbose level. */
export class CapturedLogs {
  readonly lines: string[] = [];

  /** A pino logger writing into this capture. */
  logger(name: string): Logger {
    return pino({ level: 'trace', base: { node: name } }, { write: (s: string) => void this.lines.push(s) });
  }

  /** Adds text captured elsewhere (a child process's stdout, etcd's stderr). */
  add(text: string): void {
    this.lines.push(text);
  }

  get text(): string {
    return this.lines.join('');
  }
}

/** A node running in this process with its own client. */
export interface CapturedNode {
  node: SessionNode;
  api: SessionApi;
  address: string;
  stop(): Promise<void>;
}

let counter = 0;

/** Starts an in-process node on port 0 whose log lines go to `logs`. */
export async function startCapturedNode(options: {
  endpoints: string[];
  logs: CapturedLogs;
  config?: string | ConfigSource;
  prefix?: string;
  nodeId?: string;
  clock?: Clock;
  requestTimeoutMs?: number;
  clientTimeoutMs?: number;
}): Promise<CapturedNode> {
  const nodeId = options.nodeId ?? `n${++counter}`;
  const node = new SessionNode({
    nodeId,
    listen: '127.0.0.1:0',
    etcd: { endpoints: options.endpoints, requestTimeoutMs: options.requestTimeoutMs ?? 2000 },
    prefix: options.prefix ?? '/sm-test/',
    config: typeof options.config === 'object' ? options.config : configOf(options.config ?? ''),
    ...(options.clock ? { clock: options.clock } : {}),
    logger: options.logs.logger(nodeId),
    shutdownGraceMs: 1000,
    allowAnonymous: true,
  });
  await node.start();
  const address = `127.0.0.1:${node.port}`;
  const api = new SessionApi(address, { timeoutMs: options.clientTimeoutMs ?? 5000 });
  return {
    node,
    api,
    address,
    async stop() {
      api.close();
      await node.stop();
    },
  };
}

/** The outcome of one RPC as a value: code 0 with the response, or the error's code, reason and message. */
export interface Outcome<T> {
  code: number;
  res?: T;
  reason?: string;
  domain?: string;
  details?: string;
  /** True when the error carried grpc-status-details-bin. */
  hasDetails: boolean;
}

/** Awaits a call and turns it into an Outcome instead of throwing. */
export async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { code: status.OK, res: await p, hasDetails: false };
  } catch (err) {
    const e = err as ServiceError;
    if (typeof e?.code !== 'number') throw err;
    const info = e.metadata instanceof Metadata ? errorInfoOf(e) : undefined;
    return { code: e.code, reason: info?.reason, domain: info?.domain, details: e.details, hasDetails: !!info };
  }
}

/**
 * Checks that an error outcome follows the error model: a status with ErrorInfo in our domain whose
 * reason maps to exactly that code in the one status table. Returns a problem description or null.
 */
export function errorModelProblem(o: Outcome<unknown>): string | null {
  if (o.code === status.OK) return null;
  if (!o.hasDetails) return `code ${status[o.code]} without ErrorInfo (details ${JSON.stringify(o.details)})`;
  if (o.domain !== ERROR_DOMAIN) return `ErrorInfo domain ${JSON.stringify(o.domain)}`;
  const want = o.reason ? REASON_TO_STATUS[o.reason] : undefined;
  if (want !== o.code) return `reason ${o.reason} maps to ${want === undefined ? 'nothing' : status[want]}, answered ${status[o.code]}`;
  return null;
}

/** Runs etcdctl (API v3) against `endpoints`; returns stdout as bytes. Throws when it fails. */
export function etcdctl(endpoints: string[], args: string[], timeoutMs = 60_000): Buffer {
  const r = spawnSync('etcdctl', ['--endpoints', endpoints.join(','), ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    maxBuffer: 1 << 30,
    timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')}: ${r.stderr?.toString().trim() || r.error?.message}`);
  return r.stdout;
}

/** The whole etcd keyspace, keys and values, as `etcdctl get --prefix ''` prints it. */
export function dumpKeyspace(endpoints: string[]): Buffer {
  return etcdctl(endpoints, ['get', '--prefix', '']);
}

/**
 * Returns the session ids (shortened) found in any of the haystacks; empty when none leaked.
 * Ids are searched verbatim and as standard base64 (the form some tools print bytes in).
 */
export function leakedIds(ids: Iterable<string>, haystacks: Array<Buffer | string>): string[] {
  const hay = haystacks.map((h) => (typeof h === 'string' ? Buffer.from(h) : h));
  const leaked: string[] = [];
  for (const id of ids) {
    const std = id.replace(/-/g, '+').replace(/_/g, '/');
    if (hay.some((h) => h.includes(id) || h.includes(std))) leaked.push(`${id.slice(0, 6)}…`);
  }
  return leaked;
}

/** Collects every unhandled promise rejection while installed; the suites fail when any arrives. */
export class RejectionGuard {
  readonly seen: unknown[] = [];
  private readonly listener = (reason: unknown) => void this.seen.push(reason);

  install(): void {
    process.on('unhandledRejection', this.listener);
  }

  uninstall(): void {
    process.off('unhandledRejection', this.listener);
  }

  /** Throws when a rejection arrived since the last call, and clears the list. */
  check(): void {
    if (this.seen.length === 0) return;
    const r = this.seen.splice(0);
    throw new Error(`unhandled promise rejection(s): ${r.map((x) => (x instanceof Error ? x.stack : String(x))).join('\n')}`);
  }
}

/** Sleeps `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
