import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * PeerProxy stands in front of one etcd member's peer port (the member advertises the proxy's URL)
 * and filters raft traffic by sender: etcd's peer requests are plain HTTP carrying `X-Server-From:
 * <member id>`, so the proxy reads the first request of each connection and drops connections from
 * blocked senders. A member is partitioned by blocking every connection to it (`isolate`) and, on
 * the other members' proxies, every connection from it (`block`).
 */
export class PeerProxy {
  private server: Server | undefined;
  private readonly conns = new Map<Socket, { upstream: Socket | undefined; from: string | undefined }>();
  private readonly blocked = new Set<string>();
  private isolated = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  private accept(client: Socket): void {
    if (this.isolated) return void client.destroy();
    const state: { upstream: Socket | undefined; from: string | undefined } = { upstream: undefined, from: undefined };
    this.conns.set(client, state);
    let head = Buffer.alloc(0);
    const close = () => {
      client.destroy();
      state.upstream?.destroy();
      this.conns.delete(client);
    };
    client.on('error', close).on('close', close);
    const onHead = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < 64 * 1024) return;
      client.off('data', onHead);
      const m = /\r\nX-Server-From:\s*([0-9a-fA-F]+)/i.exec(head.subarray(0, end < 0 ? head.length : end).toString('latin1'));
      state.from = m?.[1]?.toLowerCase();
      if (this.isolated || (state.from && this.blocked.has(state.from))) return close();
      const upstream = connect(this.targetPort, '127.0.0.1');
      state.upstream = upstream;
      upstream.on('error', close).on('close', close);
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    };
    client.on('data', onHead);
  }

  /** Refuses (and cuts) every connection to the member behind this proxy, or lets them through again. */
  isolate(on: boolean): void {
    this.isolated = on;
    if (on) for (const c of [...this.conns.keys()]) c.destroy();
  }

  /** Refuses (and cuts) connections sent by member `id` (hex), or lets them through again. */
  block(id: string, on: boolean): void {
    const hex = id.toLowerCase();
    if (!on) return void this.blocked.delete(hex);
    this.blocked.add(hex);
    for (const [c, st] of this.conns) if (st.from === hex) c.destroy();
  }

  async stop(): Promise<void> {
    this.isolate(true);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
