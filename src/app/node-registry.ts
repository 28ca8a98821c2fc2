import { EventEmitter } from 'node:events';
import type { Lease } from 'etcd3';
import type { Clock } from '../domain/clock.js';
import type { EtcdGateway } from '../store/etcd/client.js';
import { encodeNode } from '../store/etcd/codec.js';
import type { Keys } from '../store/etcd/keys.js';

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

/**
 * NodeRegistry holds this node's lease and registration (ARCHITECTURE decision 3). Losing the lease
 * (etcd unreachable past the TTL) is not stopping: it emits 'lost', then re-acquires a lease,
 * re-registers and emits 'renewed' (lease id) so presence keys can be re-published.
 */
export class NodeRegistry extends EventEmitter {
  private lease: Lease | undefined;
  private leaseIdValue = '0';
  private stopped = false;
  private readonly ttl: number;
  private readonly publishMs: number;
  private publishTimer: NodeJS.Timeout | undefined;
  private publishing = false;

  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly options: NodeRegistryOptions,
  ) {
    super();
    this.ttl = options.ttlSeconds ?? 10;
    if (!Number.isInteger(this.ttl) || this.ttl < 2) throw new Error('node-registry: ttlSeconds must be a whole number >= 2');
    this.publishMs = options.publishIntervalMs ?? 3000;
    if (!(this.publishMs >= 0)) throw new Error('node-registry: publishIntervalMs must not be negative');
  }

  /** The current node lease id ('0' before start or while re-acquiring). */
  get leaseId(): string {
    return this.leaseIdValue;
  }

  async start(): Promise<void> {
    await this.acquire();
    if (this.publishMs > 0) {
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

  private onLost(lease: Lease, err: Error): void {
    if (this.stopped || this.lease !== lease) return;
    this.leaseIdValue = '0';
    this.emit('lost', err);
    const retry = async (): Promise<void> => {
      while (!this.stopped) {
        try {
          await this.acquire();
          this.emit('renewed', this.leaseIdValue);
          return;
        } catch {
          await new Promise((r) => setTimeout(r, this.options.retryDelayMs ?? 500));
        }
      }
    };
    void retry();
  }

  /** Stops keeping the lease alive without revoking it, as a crash would (tests of failover). */
  abandon(): void {
    this.stopped = true;
    clearInterval(this.publishTimer);
    this.lease?.release();
    this.lease = undefined;
    this.leaseIdValue = '0';
  }

  /** Revokes the lease: the registration and every presence key of this node go at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.publishTimer);
    const lease = this.lease;
    this.lease = undefined;
    this.leaseIdValue = '0';
    await lease?.revoke().catch(() => {});
  }
}
