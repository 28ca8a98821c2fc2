import type { Clock } from '../../domain/clock.js';
import type { NodeRegistration } from '../../domain/ports.js';
import { Lifecycle, type LifecycleEvents, type LongRunning, type Transitions } from '../../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../../lifecycle/listeners.js';
import { encodeNode } from './codec.js';
import type { Keys } from './keys.js';

/** Options of NodeRegistry. */
export interface NodeRegistryOptions {
  nodeId: string;
  /** Node lease TTL in seconds (kept alive); presence of a dead node vanishes after it. Default 10. */
  ttlSeconds?: number;
  startTime: number;
  configVersion: () => string;
  /** Delay between attempts to re-acquire a lost lease. Default 500 ms. */
  retryDelayMs?: number;
  /** Wall clock published in the registration (clock-offset measurement). Default the system clock. */
  clock?: Clock;
  /**
   * How often the registration is rewritten with the current wall time so the other nodes can measure
   * their clock offset (one etcd put each time). Default 3000 ms; 0 = only on start and config change.
   */
  publishIntervalMs?: number;
}

/** The kept-alive lease NodeRegistry holds (etcd3's Lease fits; unit tests pass a fake). */
export interface NodeLease {
  /** etcd3 emits 'lost' when keep-alives failed past the TTL or the lease was revoked behind its back. */
  on(event: 'lost', fn: (err: Error) => void): unknown;
  grant(): Promise<string>;
  put(key: string): { value(v: Buffer): { exec(): Promise<unknown> } };
  /** Stops keeping the lease alive without revoking it. */
  release(): void;
  revoke(): Promise<unknown>;
}

/** Where NodeRegistry gets its leases: the gateway's etcd3 client (EtcdGateway fits). */
export interface NodeLeaseSource {
  readonly client: { lease(ttlSeconds: number, options: { autoKeepAlive: boolean }): NodeLease };
}

/**
 * The states of a NodeRegistry:
 * - `new`: constructed, nothing held;
 * - `starting`: start() is granting the first lease and writing the registration;
 * - `registered`: the lease is held and the registration written;
 * - `reacquiring`: the lease was lost while running (`lost` emitted); retrying until a new lease is
 *   held (then `renewed`, back to `registered`) or the registry is stopped;
 * - `stopping`: stop() is revoking the lease;
 * - `stopped`: terminal (after stop(), or abandon()).
 */
export type NodeRegistryState = 'new' | 'starting' | 'registered' | 'reacquiring' | 'stopping' | 'stopped';

/** NodeRegistry's own events besides the lifecycle ones. */
export interface NodeRegistryEvents {
  /** A lost lease was replaced and the registration rewritten: presence keys must be re-published under it. */
  renewed: [leaseId: string];
}

const TRANSITIONS: Transitions<NodeRegistryState> = {
  new: ['starting', 'stopping', 'stopped'],
  starting: ['registered', 'reacquiring', 'stopping', 'stopped'],
  registered: ['reacquiring', 'stopping', 'stopped'],
  reacquiring: ['registered', 'stopping', 'stopped'],
  stopping: ['stopped'],
  stopped: [],
};

/**
 * NodeRegistry holds this node's lease and registration (ARCHITECTURE decision 3). Losing the lease
 * (etcd unreachable past the TTL) is not stopping: it emits `lost`, then re-acquires a lease,
 * re-registers and emits `renewed` (lease id) so presence keys can be re-published. `stopped` is
 * emitted only by stop() or abandon().
 */
export class NodeRegistry implements LongRunning<NodeRegistryState, NodeRegistryEvents>, NodeRegistration {
  private readonly life = new Lifecycle<NodeRegistryState, NodeRegistryEvents>('node-registry', TRANSITIONS, 'new');
  private lease: NodeLease | undefined;
  private leaseIdValue = '0';
  private readonly ttl: number;
  private readonly publishMs: number;
  private publishTimer: NodeJS.Timeout | undefined;
  private publishing = false;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly etcd: NodeLeaseSource,
    private readonly keys: Keys,
    private readonly options: NodeRegistryOptions,
  ) {
    this.ttl = options.ttlSeconds ?? 10;
    if (!Number.isInteger(this.ttl) || this.ttl < 2) throw new Error('node-registry: ttlSeconds must be a whole number >= 2');
    this.publishMs = options.publishIntervalMs ?? 3000;
    if (!(this.publishMs >= 0)) throw new Error('node-registry: publishIntervalMs must not be negative');
  }

  /** The current state (see NodeRegistryState). */
  get state(): NodeRegistryState {
    return this.life.state;
  }

  /** Subscribes to `state`, `lost`, `stopped` or `renewed`; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<NodeRegistryState> & NodeRegistryEvents)>(
    event: K,
    fn: Listener<LifecycleEvents<NodeRegistryState> & NodeRegistryEvents, K>,
  ): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** The current node lease id ('0' before start or while re-acquiring). */
  get leaseId(): string {
    return this.leaseIdValue;
  }

  /** Whether stop() or abandon() was called. */
  private get ending(): boolean {
    return this.life.state === 'stopping' || this.life.state === 'stopped';
  }

  /** Grants the lease and writes the registration, then starts the periodic re-publish. Only from 'new'. */
  async start(): Promise<void> {
    this.life.expect('start', 'new');
    this.life.to('starting');
    await this.acquire();
    if (this.life.state === 'starting') this.life.to('registered');
    if (this.publishMs > 0 && !this.ending) {
      this.publishTimer = setInterval(() => {
        // One write at a time: while etcd is slow or away, ticks are skipped rather than queued.
        if (this.publishing) return;
        this.publishing = true;
        void this.refresh()
          .catch(() => {})
          .finally(() => (this.publishing = false));
      }, this.publishMs);
      this.publishTimer.unref();
    }
  }

  /** The registration value now: identity, config version and this node's wall time. */
  private value(): Buffer {
    const wall = (this.options.clock ?? { now: () => Date.now() }).now();
    return Buffer.from(encodeNode(this.options.nodeId, this.options.startTime, this.options.configVersion(), wall));
  }

  private async acquire(): Promise<void> {
    const lease = this.etcd.client.lease(this.ttl, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('lost', (err: Error) => this.onLost(lease, err));
    const id = await lease.grant();
    await lease.put(this.keys.node(this.options.nodeId)).value(this.value()).exec();
    this.leaseIdValue = id;
  }

  /** Re-writes the registration (after a config change, and every publish interval with the wall time). */
  async refresh(): Promise<void> {
    if (!this.lease || this.leaseIdValue === '0') return;
    await this.lease.put(this.keys.node(this.options.nodeId)).value(this.value()).exec();
  }

  private onLost(lease: NodeLease, err: Error): void {
    if (this.ending || this.lease !== lease) return;
    this.leaseIdValue = '0';
    this.life.to('reacquiring');
    this.life.lost(err);
    const retry = async (): Promise<void> => {
      while (!this.ending) {
        try {
          await this.acquire();
        } catch {
          await new Promise((r) => setTimeout(r, this.options.retryDelayMs ?? 500));
          continue;
        }
        // Stopped while acquiring: stop() owns the end; nothing to announce.
        if (this.ending) return;
        this.life.to('registered');
        this.life.listeners.emit('renewed', this.leaseIdValue);
        return;
      }
    };
    void retry();
  }

  /** Stops keeping the lease alive without revoking it, as a crash would (tests of failover). */
  abandon(): void {
    if (this.life.state === 'stopped') return;
    clearInterval(this.publishTimer);
    this.lease?.release();
    this.lease = undefined;
    this.leaseIdValue = '0';
    this.life.to('stopped');
    this.life.stopped();
  }

  /** Revokes the lease: the registration and every presence key of this node go at once. Idempotent. */
  stop(): Promise<void> {
    if (this.life.state === 'stopped') return Promise.resolve();
    this.stopping ??= this.revoke();
    return this.stopping;
  }

  private async revoke(): Promise<void> {
    this.life.to('stopping');
    clearInterval(this.publishTimer);
    const lease = this.lease;
    this.lease = undefined;
    this.leaseIdValue = '0';
    await lease?.revoke().catch(() => {});
    if (this.life.state === 'stopped') return; // abandoned meanwhile: already announced
    this.life.to('stopped');
    this.life.stopped();
  }
}
