import { Lifecycle, type LifecycleEvents, type LongRunning } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import { HealthPolicy } from './health.js';
import { NODE_TRANSITIONS, type NodeState } from './lifecycle.js';
import type { SessionNodeOptions } from './options.js';
import { NodeWiring } from './wiring.js';

export type { NodeState } from './lifecycle.js';
export type { SessionNodeOptions } from './options.js';

/**
 * SessionNode is one replica: the parts NodeWiring builds, run on the node's lifecycle. start()
 * binds, syncs the mirror, registers and then serves; stop() follows the shutdown order
 * (ARCHITECTURE rule 8); kill() stops at once as a crash would. `lost` = the node lease was lost
 * (the registry re-registers by itself); `stopped` = stop() finished.
 */
export class SessionNode extends NodeWiring implements LongRunning<NodeState> {
  private readonly life = new Lifecycle<NodeState>('node', NODE_TRANSITIONS, 'new');
  private readonly healthPolicy: HealthPolicy;
  private healthTimer: NodeJS.Timeout | undefined;
  private unsubscribeConfig: () => void = () => {};

  constructor(options: SessionNodeOptions) {
    super(options);
    this.healthPolicy = new HealthPolicy({
      health: this.health,
      clockOffset: this.clockOffset,
      fresh: () => this.feed.isFresh(),
      maxClockSkewMs: () => options.config.current().policy.maxClockSkewMs,
      log: this.log,
    });
    this.feed.on('lost', (err: Error) => {
      this.log.warn({ err: err.message }, 'watch lost; resuming from last applied revision');
      this.events.emit('watch-lost', err);
    });
    this.feed.on('state', (st: string) => {
      this.log.debug({ state: st }, 'watch state');
      this.refreshHealth();
    });
    this.feed.on('freshness', (fresh: boolean) => {
      if (fresh) this.log.info({}, 'mirror proven fresh: serving reads');
      else this.log.warn({}, 'mirror freshness not proven within cache.max-staleness: reads fail closed');
      this.refreshHealth();
    });
    this.feed.on('retry', (err: Error) => this.log.warn({ err: err.message }, 'etcd not reachable yet; retrying the initial sync'));
    this.registry.on('lost', (err) => {
      this.log.warn({ err: err.message }, 'node lease lost; re-registering');
      this.events.emit('node-lease-lost');
      this.life.lost(err);
    });
    this.registry.on('renewed', () => {
      this.log.info({}, 'node lease re-acquired; re-publishing presence');
      void this.presence.republishAll();
    });
  }

  /** The current state. */
  get state(): NodeState {
    return this.life.state;
  }

  /** Subscribes to `state`, `lost` (node lease lost) or `stopped`; returns the unsubscribe. */
  on<K extends keyof LifecycleEvents<NodeState>>(event: K, fn: Listener<LifecycleEvents<NodeState>, K>): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** Whether readiness reports SERVING now: what a load balancer sees (read-only; for rollouts and tests). */
  get ready(): boolean {
    return this.healthPolicy.ready;
  }

  /** The bound gRPC port (after start). */
  get port(): number {
    return this.server.port;
  }

  /** The bound port of the plaintext health listener, if any (after start). */
  get healthPort(): number | undefined {
    return this.healthServer?.port;
  }

  private refreshHealth(): void {
    this.healthPolicy.refresh(this.life.state);
  }

  /** Binds the port, syncs the mirror from etcd, then reports SERVING. Throws IllegalTransitionError unless `new`. */
  async start(): Promise<void> {
    this.life.expect('start', 'new');
    this.life.to('starting');
    const port = await this.server.start();
    const healthPort = await this.healthServer?.start();
    if (healthPort !== undefined) this.log.info({ port: healthPort }, 'plaintext health listener (grpc.health.v1 only)');
    this.policy?.start();
    if (this.auth.mode === 'anonymous') {
      this.log.warn({ insecureAllowAnonymous: true }, 'INSECURE: --insecure-allow-anonymous is set: every caller may create, validate and end any session at any site and use the admin API; never run like this outside a local experiment');
    } else if (!this.policy && !this.options.adminTokenFile && !(this.options.adminIdentities?.length ?? 0)) {
      this.log.warn({}, 'no callers configured (no --auth-policy-file, no admin token or identities): every call will be refused UNAUTHENTICATED');
    } else {
      this.log.info({ policy: this.policy?.current().version ?? '' }, 'callers must authenticate (client certificate or bearer token)');
    }
    this.refreshHealth();
    this.log.info({ port }, 'listening; syncing sessions from etcd');
    await this.feed.start();
    await this.registry.start();
    await this.firstClockSamples();
    this.presence.start();
    this.scavenger.start();
    this.life.to('serving');
    this.unsubscribeConfig = this.options.config.onChange(() => void this.registry.refresh().catch(() => {}));
    this.refreshHealth();
    this.healthTimer = setInterval(() => this.refreshHealth(), this.options.healthIntervalMs ?? 250);
    this.healthTimer.unref();
    this.log.info({ sessions: this.cache.size, revision: this.feed.revision }, 'serving');
  }

  /**
   * Waits until every registered peer has answered this node's registration with its wall time (they
   * re-publish on seeing a new node), at most one publish interval: a node started with a wrong clock
   * is then out of readiness before it serves a request.
   */
  private async firstClockSamples(): Promise<void> {
    const own = this.keys.node(this.options.nodeId);
    const peers = this.nodeMirror.list().map((n) => this.keys.node(n.nodeId)).filter((k) => k !== own);
    const deadline = performance.now() + (this.options.clockPublishIntervalMs ?? 3000);
    while (peers.some((k) => !this.clockOffset.has(k)) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Graceful stop (ARCHITECTURE rule 8): NOT_SERVING → drain delay → close streams and finish in-flight
   * calls → resign scavenger leadership → flush touches → stop watch → revoke the node lease → close.
   * Idempotent; emits `stopped`.
   */
  async stop(): Promise<void> {
    if (this.life.state === 'stopped' || this.life.state === 'draining') return;
    const wasServing = this.life.state === 'serving';
    this.life.to('draining');
    clearInterval(this.healthTimer);
    this.healthPolicy.notServing();
    if (wasServing && (this.options.drainDelayMs ?? 0) > 0) {
      this.log.info({ ms: this.options.drainDelayMs }, 'draining: NOT_SERVING, waiting for endpoints to update');
      await new Promise((r) => setTimeout(r, this.options.drainDelayMs));
    }
    this.health.closeWatchers();
    this.streams.closeAll();
    const how = await this.server.shutdown(this.options.shutdownGraceMs ?? 20_000);
    await this.healthServer?.shutdown(0);
    await this.scavenger.stop();
    const failed = await this.touches.flush();
    if (failed > 0) this.log.warn({ failed }, 'some pending touches could not be written');
    await this.presence.stop();
    this.unsubscribeConfig();
    this.policy?.stop();
    this.feed.stop();
    await this.registry.stop();
    this.etcd.close();
    this.life.to('stopped');
    this.log.info({ calls: how }, 'stopped');
    this.life.stopped();
  }

  /**
   * Stops at once without draining, resigning or revoking anything, as a crash would: its leases
   * expire on their own (tests of failover; a process kill does the same).
   */
  async kill(): Promise<void> {
    if (this.life.state !== 'stopped') this.life.to('stopped');
    clearInterval(this.healthTimer);
    void this.presence.stop();
    this.policy?.stop();
    this.scavenger.abandon();
    this.registry.abandon();
    this.streams.closeAll();
    await this.server.shutdown(0);
    await this.healthServer?.shutdown(0);
    this.feed.stop();
    this.etcd.close();
  }
}
