import { createServer, connect, type Server, type Socket } from 'node:net';

/** How the proxy treats traffic: forward it, cut every connection, or hold bytes without forwarding. */
export type ProxyMode = 'pass' | 'cut' | 'stall';

/**
 * FaultProxy is a TCP proxy between a node and etcd that tests control: `cut` destroys every
 * connection and refuses new ones; `stall` keeps connections open but forwards nothing (a silent
 * network partition), which only keepalives and deadlines can detect.
 */
export class FaultProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private modeValue: ProxyMode = 'pass';
  port = 0;
  /** Delay added to every chunk in both directions while passing (order is kept). */
  latencyMs = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (this.modeValue === 'cut') {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forward = (from: Socket, to: Socket) =>
        from.on('data', (d) => {
          if (this.modeValue !== 'pass') return;
          if (this.latencyMs > 0) setTimeout(() => this.modeValue === 'pass' && !to.destroyed && to.write(d), this.latencyMs);
          else to.write(d);
        });
      forward(client, upstream);
      forward(upstream, client);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get mode(): ProxyMode {
    return this.modeValue;
  }

  /** Switches mode; `cut` also destroys open connections. */
  set(mode: ProxyMode): void {
    this.modeValue = mode;
    if (mode === 'cut') for (const [a, b] of this.pairs) (a.destroy(), b.destroy());
  }

  async stop(): Promise<void> {
    this.set('cut');
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
