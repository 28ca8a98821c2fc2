import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { PeerProxy } from './peer-proxy.js';
import { freePort } from './ports.js';
import { eventually } from './poll.js';

/** One etcd member process. */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc: ChildProcess | undefined;
  args: string[];
  /** With peer proxies: the proxy the member advertises in front of its peer port. */
  peerProxy?: PeerProxy;
  /** The member's raft id in hex (known after start with peer proxies). */
  id?: string;
}

/** EtcdCluster runs real etcd processes on free loopback ports for one test suite. */
export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly root: string;

  private constructor(private readonly extraArgs: string[]) {
    this.root = mkdtempSync(join(tmpdir(), 'sm-etcd-'));
  }

  /** Starts `size` members (1 or 3) and waits until the cluster answers. */
  static async start(options: { size?: number; extraArgs?: string[]; peerProxies?: boolean } = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster(options.extraArgs ?? []);
    const size = options.size ?? 1;
    for (let i = 0; i < size; i++) {
      const [cp, pp] = [await freePort(), await freePort()];
      const m: EtcdMember = {
        name: `m${i}`,
        clientUrl: `http://127.0.0.1:${cp}`,
        peerUrl: `http://127.0.0.1:${pp}`,
        dataDir: join(c.root, `m${i}`),
        proc: undefined,
        args: [],
      };
      if (options.peerProxies) {
        m.peerProxy = new PeerProxy(pp);
        await m.peerProxy.start();
      }
      c.members.push(m);
    }
    const advertised = (m: EtcdMember) => m.peerProxy?.url ?? m.peerUrl;
    const initial = c.members.map((m) => `${m.name}=${advertised(m)}`).join(',');
    const token = `t-${Date.now()}-${Math.random().toString(36).slice(2)}`; // one token for the whole cluster
    for (const m of c.members) {
      m.args = [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.peerUrl,
        '--initial-advertise-peer-urls', advertised(m),
        // Pre-vote keeps a member cut off from its peers from disrupting the majority's leader.
        ...(options.peerProxies ? ['--pre-vote'] : []),
        '--initial-cluster', initial,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', token,
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
        '--log-level', 'error',
        ...c.extraArgs,
      ];
      c.spawn(m);
    }
    await c.waitHealthy();
    if (options.peerProxies) await c.learnIds();
    return c;
  }

  private async learnIds(): Promise<void> {
    const client = this.client();
    try {
      const r = await client.cluster.memberList({});
      for (const mem of r.members) {
        const m = this.members.find((x) => x.name === mem.name);
        if (m) m.id = BigInt(mem.ID).toString(16);
      }
    } finally {
      client.close();
    }
  }

  /**
   * Cuts member `index` off from its peers (it keeps serving its clients), or heals it. Needs
   * `peerProxies`: connections to it are refused by its proxy, connections from it by the others'.
   */
  partition(index: number, on: boolean): void {
    const m = this.members[index]!;
    if (!m.peerProxy || !m.id) throw new Error('etcd: partition needs a cluster started with peerProxies');
    m.peerProxy.isolate(on);
    for (const other of this.members) if (other !== m) other.peerProxy!.block(m.id, on);
  }

  private spawn(m: EtcdMember): void {
    m.proc = spawn('etcd', m.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    m.proc.stderr?.resume();
  }

  /** Client URLs of all members. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** Waits until a write succeeds through every running member. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    for (const m of this.members.filter((x) => x.proc)) {
      const client = new Etcd3({ hosts: [m.clientUrl] });
      try {
        await eventually(async () => (await client.put('/health-probe').value('1'), true), { timeoutMs, intervalMs: 100, what: `etcd ${m.name}` });
      } finally {
        client.close();
      }
    }
  }

  /** A plain etcd3 client for test assertions (not the code under test). */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.endpoints });
  }

  /** SIGKILLs one member. */
  kill(index: number): void {
    const m = this.members[index]!;
    m.proc?.kill('SIGKILL');
    m.proc = undefined;
  }

  /** Stops every member (SIGKILL: tests want the crash, not a clean stop). */
  killAll(): void {
    for (let i = 0; i < this.members.length; i++) this.kill(i);
  }

  /** Restarts a killed member with its data. */
  async restart(index: number): Promise<void> {
    const m = this.members[index]!;
    if (m.proc) return;
    m.args = m.args.map((a) => (a === 'new' ? 'existing' : a));
    this.spawn(m);
    await this.waitHealthy();
  }

  /** Kills everything and removes the data. */
  async stop(): Promise<void> {
    const procs = this.members.map((m) => m.proc).filter((p): p is ChildProcess => !!p);
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
    for (const m of this.members) m.proc = undefined;
    await Promise.all(this.members.map((m) => m.peerProxy?.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
