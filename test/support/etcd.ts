import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
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
}

/** EtcdCluster runs real etcd processes on free loopback ports for one test suite. */
export class EtcdCluster {
  readonly members: EtcdMember[] = [];
  private readonly root: string;

  private constructor(private readonly extraArgs: string[]) {
    this.root = mkdtempSync(join(tmpdir(), 'sm-etcd-'));
  }

  /** Starts `size` members (1 or 3) and waits until the cluster answers. */
  static async start(options: { size?: number; extraArgs?: string[] } = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster(options.extraArgs ?? []);
    const size = options.size ?? 1;
    for (let i = 0; i < size; i++) {
      const [cp, pp] = [await freePort(), await freePort()];
      c.members.push({
        name: `m${i}`,
        clientUrl: `http://127.0.0.1:${cp}`,
        peerUrl: `http://127.0.0.1:${pp}`,
        dataDir: join(c.root, `m${i}`),
        proc: undefined,
        args: [],
      });
    }
    const initial = c.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const token = `t-${Date.now()}-${Math.random().toString(36).slice(2)}`; // one token for the whole cluster
    for (const m of c.members) {
      m.args = [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.peerUrl,
        '--initial-advertise-peer-urls', m.peerUrl,
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
    return c;
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
    rmSync(this.root, { recursive: true, force: true });
  }
}
