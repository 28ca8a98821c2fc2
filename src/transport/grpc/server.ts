import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';

/** Options of GrpcServer. */
export interface GrpcServerOptions {
  /** host:port to listen on; port 0 picks a free one. Required. */
  listen: string;
  /** Largest request accepted, in bytes. Default 4 MiB. */
  maxReceiveBytes?: number;
  /** TLS credentials; default plaintext. */
  credentials?: ServerCredentials;
  /**
   * How long a connection may be quiet before the server pings the client (HTTP/2 PING). Default
   * 10 000 ms. With keepaliveTimeoutMs it bounds how long a client that stopped answering (crashed
   * host, SIGSTOP, dropped network) keeps its Attach and WatchEvents streams: time + timeout.
   */
  keepaliveTimeMs?: number;
  /** How long the server waits for the ping's answer before closing the connection. Default 10 000 ms. */
  keepaliveTimeoutMs?: number;
}

/** Default server keepalive: a client that stopped answering is disconnected within 20 s. */
export const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
/** Default wait for a keepalive ping's answer. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 10_000;

/**
 * GrpcServer owns the grpc-js server's lifecycle: bind, then a layered shutdown as in grpc-js —
 * stop accepting and let in-flight calls finish (tryShutdown) within a grace, then force.
 */
export class GrpcServer {
  private readonly server: Server;
  private boundPort = 0;

  constructor(private readonly options: GrpcServerOptions) {
    if (!/^[^\s]+:\d+$/.test(options.listen)) throw new Error(`server: listen must be host:port, got ${JSON.stringify(options.listen)}`);
    const keepaliveTime = options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS;
    const keepaliveTimeout = options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS;
    if (!(keepaliveTime >= 100)) throw new Error('server: keepaliveTimeMs must be at least 100 ms');
    if (!(keepaliveTimeout >= 100)) throw new Error('server: keepaliveTimeoutMs must be at least 100 ms');
    this.server = new Server({
      'grpc.max_receive_message_length': options.maxReceiveBytes ?? 4 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
      // Half-open connections (issue 10): ping quiet clients and drop those that do not answer, so
      // their Attach streams close and connection-bound sessions start their grace.
      'grpc.keepalive_time_ms': keepaliveTime,
      'grpc.keepalive_timeout_ms': keepaliveTimeout,
      // No channelz service is offered, so its per-call and per-stream bookkeeping (call counters,
      // timestamps, a tracker per call) would only cost time on every call (issue 12's profile).
      'grpc.enable_channelz': 0,
    });
  }

  addService(def: ServiceDefinition, impl: UntypedServiceImplementation): void {
    this.server.addService(def, impl);
  }

  /** Binds and starts serving; resolves with the bound port. */
  async start(): Promise<number> {
    this.boundPort = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.options.listen, this.options.credentials ?? ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolve(port),
      );
    });
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Stops accepting calls, waits up to `graceMs` for in-flight calls, then cancels the rest. */
  async shutdown(graceMs: number): Promise<'drained' | 'forced'> {
    const drained = new Promise<'drained'>((resolve) => this.server.tryShutdown(() => resolve('drained')));
    let timer: NodeJS.Timeout | undefined;
    const forced = new Promise<'forced'>((resolve) => {
      timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve('forced');
      }, graceMs);
    });
    const r = await Promise.race([drained, forced]);
    clearTimeout(timer);
    return r;
  }
}
