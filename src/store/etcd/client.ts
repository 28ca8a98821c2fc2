import { readFileSync } from 'node:fs';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, noop } from 'cockatiel';
import { castGrpcError, GRPCCancelledError, isRecoverableError } from 'etcd3';
import {
  Etcd3,
  type IDeleteRangeRequest,
  type ILeaseGrantResponse,
  type IOptions,
  type IRangeRequest,
  type IRangeResponse,
  type ITxnRequest,
  type ITxnResponse,
  type IWatchRequest,
  type IWatchResponse,
  type IDuplexStream,
  type ICompactionRequest,
  type Election as Etcd3Election,
} from 'etcd3';
import type { Metadata } from '@grpc/grpc-js';
import { EtcdElection } from './election.js';
import { translateEtcdError } from './errors.js';

/** Options of the etcd connection. */
export interface EtcdClientOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. Required, at least one. */
  endpoints: string[];
  /** Deadline of each unary request. Default 3000 ms. */
  requestTimeoutMs?: number;
  /** PEM files for TLS (CA, and client cert + key for mTLS). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** etcd user credentials. */
  auth?: { username: string; password: string };
}

/** A hook that observes every etcd request (telemetry); `op` is the RPC name, `prefix` the key class. */
export type EtcdObserver = (op: string, prefix: string, durationMs: number, error: Error | undefined) => void;

/** A hook that wraps every etcd request, e.g. in a tracing span; it must call `run` exactly once. */
export type EtcdInstrumentation = <T>(op: string, keyClass: string, run: () => Promise<T>) => Promise<T>;

/** The part of etcd3's connection pool that streams report their errors to. */
interface StreamFailureSink {
  markFailed(resource: unknown, error: Error): void;
}

/**
 * etcd3 reports every stream error to the member's circuit breaker and, for "recoverable" ones,
 * closes all of that member's channels. A stream we cancel ourselves (a watch we re-open, an
 * election observer etcd3 ends after a campaign) errors with CANCELLED, which etcd3 counts as a
 * member failure: two such cancellations in a row open the breaker, and with one endpoint every
 * request then fails for a second with a healthy etcd. A cancellation says nothing about the
 * member, so it is neither counted nor allowed to reset the connections.
 */
function ignoreOwnCancellations(client: Etcd3): void {
  const pool = (client as unknown as { pool?: Partial<StreamFailureSink> }).pool;
  if (typeof pool?.markFailed !== 'function') {
    throw new Error('etcd: the etcd3 client no longer exposes pool.markFailed; review ignoreOwnCancellations for this etcd3 version');
  }
  const markFailed = pool.markFailed.bind(pool);
  pool.markFailed = (resource, error) => {
    if (castGrpcError(error) instanceof GRPCCancelledError) return;
    markFailed(resource, error);
  };
}

/** The part of etcd3's connection pool that hands out a member's service client with its metadata. */
interface WatchConnectionSource {
  withConnection<T>(
    service: 'Watch',
    fn: (c: { resource: unknown; client: { watch(md: Metadata): IDuplexStream<IWatchRequest, IWatchResponse> }; metadata: Metadata }) => T,
  ): Promise<T>;
  markFailed(resource: unknown, error: Error): void;
}

/** Opens a watch stream through etcd3's pool with the require-leader metadata added to a copy of its own. */
function openLeaderWatch(client: Etcd3): Promise<IDuplexStream<IWatchRequest, IWatchResponse>> {
  const pool = (client as unknown as { pool?: Partial<WatchConnectionSource> }).pool;
  if (typeof pool?.withConnection !== 'function' || typeof pool.markFailed !== 'function') {
    throw new Error('etcd: the etcd3 client no longer exposes pool.withConnection; review openLeaderWatch for this etcd3 version');
  }
  const src = pool as WatchConnectionSource;
  return src.withConnection('Watch', ({ resource, client: svc, metadata }) => {
    const md = metadata.clone();
    md.set('hasleader', 'true');
    const stream = svc.watch(md);
    // As etcd3's own watch(): a stream error is the member's failure (cancellations are filtered).
    stream.on('error', (err: Error) => (stream as unknown as { writable: boolean }).writable && src.markFailed(resource, err));
    return stream;
  });
}

/** Whether an etcd error counts against its member's circuit breaker: etcd3's recoverable errors, except the space quota. */
function memberFailure(err: Error): boolean {
  return isRecoverableError(err) && !/database space exceeded/i.test(err.message);
}

/**
 * EtcdGateway is the one door to etcd: raw KV, lease and watch RPCs with deadlines, a circuit
 * breaker per member, no hidden retries (callers decide what to retry), and errors translated to the
 * service's.
 */
export class EtcdGateway {
  readonly client: Etcd3;
  private readonly timeoutMs: number;
  private observer: EtcdObserver | undefined;
  private instrumentation: EtcdInstrumentation = (_op, _k, run) => run();

  constructor(options: EtcdClientOptions) {
    if (!options.endpoints.length || options.endpoints.some((e) => !/^https?:\/\/[^/]+$/.test(e))) {
      throw new Error(`etcd: endpoints must be http(s)://host:port URLs, got ${JSON.stringify(options.endpoints)}`);
    }
    this.timeoutMs = options.requestTimeoutMs ?? 3000;
    if (!(this.timeoutMs > 0)) throw new Error('etcd: requestTimeoutMs must be greater than 0');
    const etcdOptions: IOptions = {
      hosts: options.endpoints,
      // Per member, a short circuit breaker: after two network failures requests go to the other
      // members for a second, then one is tried again — so a dead member costs few errors and a
      // member that came back is used again within a second. No global retries: they would repeat
      // non-idempotent writes; callers decide what to retry.
      faultHandling: {
        // A write refused over the space quota says nothing about the member (etcd3 counts it, as a
        // RESOURCE_EXHAUSTED): two of them in a row would otherwise fail every read for a second.
        host: () => circuitBreaker(handleWhen(memberFailure), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(2) }),
        global: noop,
      },
      grpcOptions: {
        // etcd's --grpc-keepalive-min-time is 5 s: pinging more often gets the connection closed.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5000,
        'grpc.keepalive_permit_without_calls': 1,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      },
    };
    if (options.tls) {
      etcdOptions.credentials = {
        rootCertificate: options.tls.caFile ? readFileSync(options.tls.caFile) : Buffer.alloc(0),
        ...(options.tls.certFile ? { certChain: readFileSync(options.tls.certFile) } : {}),
        ...(options.tls.keyFile ? { privateKey: readFileSync(options.tls.keyFile) } : {}),
      };
    }
    if (options.auth) etcdOptions.auth = { username: options.auth.username, password: options.auth.password };
    this.client = new Etcd3(etcdOptions);
    ignoreOwnCancellations(this.client);
  }

  /** Sets the telemetry observer called after every request. */
  observe(observer: EtcdObserver): void {
    this.observer = observer;
  }

  /** Sets the wrapper every request runs inside (tracing spans). */
  instrument(instrumentation: EtcdInstrumentation): void {
    this.instrumentation = instrumentation;
  }

  private deadline(timeoutMs = this.timeoutMs): { deadline: Date } {
    return { deadline: new Date(Date.now() + timeoutMs) };
  }

  private async call<T>(op: string, prefix: string, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const r = await this.instrumentation(op, prefix, fn);
      this.observer?.(op, prefix, performance.now() - start, undefined);
      return r;
    } catch (err) {
      const e = translateEtcdError(err);
      this.observer?.(op, prefix, performance.now() - start, e);
      throw e;
    }
  }

  /** Wraps a wait on a request made elsewhere (a shared, batched txn) in this request's span only. */
  traced<T>(op: string, prefix: string, wait: () => Promise<T>): Promise<T> {
    return this.instrumentation(op, prefix, wait);
  }

  /** A range read (linearizable unless the request says serializable); `timeoutMs` overrides the deadline. */
  range(req: IRangeRequest, prefix: string, timeoutMs?: number): Promise<IRangeResponse> {
    return this.call('range', prefix, () => this.client.kv.range(req, this.deadline(timeoutMs)));
  }

  txn(req: ITxnRequest, prefix: string): Promise<ITxnResponse> {
    return this.call('txn', prefix, () => this.client.kv.txn(req, this.deadline()));
  }

  deleteRange(req: IDeleteRangeRequest, prefix: string): Promise<unknown> {
    return this.call('delete', prefix, () => this.client.kv.deleteRange(req, this.deadline()));
  }

  compact(req: ICompactionRequest): Promise<unknown> {
    return this.call('compact', '', () => this.client.kv.compact(req, this.deadline()));
  }

  leaseGrant(ttlSeconds: number): Promise<ILeaseGrantResponse> {
    return this.call('lease_grant', '', () => this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, this.deadline()));
  }

  /**
   * Opens a raw watch stream; the caller owns its requests, resume point and errors. With
   * `requireLeader` (etcd's `WithRequireLeader`: metadata `hasleader: true`) a member that has no
   * leader refuses the stream, and closes it when it loses its leader, instead of serving events and
   * progress notifications from its own possibly stale state.
   */
  openWatch(options: { requireLeader?: boolean } = {}): Promise<IDuplexStream<IWatchRequest, IWatchResponse>> {
    if (!options.requireLeader) return this.call('watch_open', '', () => this.client.watchClient.watch());
    return this.call('watch_open', '', () => openLeaderWatch(this.client));
  }

  /** A leader election under `<prefix>election/<name>/` for the Elector (see store/etcd/election.ts). */
  election(prefix: string, name: string, ttlSeconds: number): EtcdElection {
    return new EtcdElection(this, prefix, name, ttlSeconds);
  }

  /** etcd3's own Election under `prefix`; only EtcdElection uses it. */
  etcd3Election(prefix: string, name: string, ttlSeconds: number): Etcd3Election {
    return this.client.namespace(prefix).election(name, ttlSeconds);
  }

  /** Closes every connection. */
  close(): void {
    this.client.close();
  }
}
