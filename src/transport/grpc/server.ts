import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';

/** Options of GrpcServer. */
export interface GrpcServerOptions {
  /** host:port to listen on; port 0 picks a free one. Required. */
  listen: string;
  /** Largest request accepted, in bytes. Default 4 MiB. */
  maxReceiveBytes?: number;
  /** TLS credentials; default plaintext. */
  credentials?: ServerCredentials;
}

/**
 * GrpcServer owns the grpc-js server's lifecycle: bind, then a layered shutdown as in grpc-js —
 * stop accepting and let in-flight calls finish (tryShutdown) within a grace, then force.
 */
export class GrpcServer {
  private readonly server: Server;
  private boundPort = 0;

  constructor(private readonly options: GrpcServerOptions) {
    if (!/^[^\s]+:\d+$/.test(options.listen)) throw new Error(`server: listen must be host:port, got ${JSON.stringify(options.listen)}`);
    this.server = new Server({
      'grpc.max_receive_message_length': options.maxReceiveBytes ?? 4 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
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
