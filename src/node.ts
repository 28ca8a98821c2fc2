import type { Logger } from 'pino';
import { SessionCache } from './cache/session-cache.js';
import { WatchFeed } from './cache/watch-feed.js';
import type { ConfigSource } from './config/loader.js';
import type { Clock } from './domain/clock.js';
import { NotServingError } from './domain/errors.js';
import { NodeEvents } from './app/node-events.js';
import { SessionService } from './app/session-service.js';
import { TouchWriter } from './app/touch-writer.js';
import { HealthService as HealthServiceDefinition } from './gen/grpc/health/v1/health.js';
import { SessionServiceService } from './gen/sessionmanager/v1/session_service.js';
import { EtcdGateway, type EtcdClientOptions } from './store/etcd/client.js';
import { Keys } from './store/etcd/keys.js';
import { LeaseBuckets } from './store/etcd/lease-buckets.js';
import { EtcdSessionStore } from './store/etcd/session-store.js';
import { HealthService } from './transport/grpc/health.js';
import { GrpcServer } from './transport/grpc/server.js';
import { sessionHandlers, type CallObserver } from './transport/grpc/session-handlers.js';

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** Lifecycle of a node, in order; illegal transitions throw. */
export type NodeState = 'new' | 'starting' | 'serving' | 'draining' | 'stopped';

/** Options of SessionNode: one per process in production, several per process in tests. */
export interface SessionNodeOptions {
  /** Name of this node in logs and the node registry. Required. */
  nodeId: string;
  /** host:port for gRPC; port 0 picks a free one. Required. */
  listen: string;
  etcd: EtcdClientOptions;
  /** Key prefix in etcd. Default `/session-manager/`. */
  prefix?: string;
  config: ConfigSource;
  clock?: Clock;
  logger: Logger;
  /** After SIGTERM, how long to keep serving while reporting NOT_SERVING so endpoints update. Default 0. */
  drainDelayMs?: number;
  /** How long in-flight calls may take to finish on shutdown before they are cancelled. Default 20 s. */
  shutdownGraceMs?: number;
  /** How often health is re-evaluated against cache freshness. Default 250 ms. */
  healthIntervalMs?: number;
}

/** Health name for liveness: the process is up. */
export const LIVENESS_SERVICE = '';
/** Health name for readiness: synced, fresh and not draining. */
export const READINESS_SERVICE = 'sessionmanager.v1.SessionService';
/** The gRPC service names the health service reports on. */
export const HEALTH_SERVICES = [LIVENESS_SERVICE, READINESS_SERVICE] as const;

/**
 * SessionNode is the composition root of one replica: it builds the etcd gateway, mirror, store,
 * service and gRPC server in order, and tears them down in the reverse order (ARCHITECTURE rule 8).
 */
export class SessionNode {
  private stateValue: NodeState = 'new';
  readonly etcd: EtcdGateway;
  readonly keys: Keys;
  readonly cache = new SessionCache();
  readonly feed: WatchFeed;
  readonly touches: TouchWriter;
  readonly service: SessionService;
  readonly health = new HealthService(HEALTH_SERVICES);
  /** Telemetry events of this node (see NodeEventMap); subscribe before start(). */
  readonly events = new NodeEvents();
  private readonly server: GrpcServer;
  private readonly clock: Clock;
  private readonly log: Logger;
  private healthTimer: NodeJS.Timeout | undefined;
  private unsubscribeConfig: () => void = () => {};

  constructor(private readonly options: SessionNodeOptions) {
    if (!options.nodeId) throw new Error('node: nodeId is required');
    if ((options.drainDelayMs ?? 0) < 0) throw new Error('node: drainDelayMs must not be negative');
    if ((options.shutdownGraceMs ?? 20_000) < 0) throw new Error('node: shutdownGraceMs must not be negative');
    this.clock = options.clock ?? systemClock;
    this.log = options.logger;
    const policy = options.config.current().policy;
    this.etcd = new EtcdGateway(options.etcd);
    this.keys = new Keys(options.prefix ?? '/session-manager/');
    this.feed = new WatchFeed(this.etcd, this.keys, this.cache, { maxStalenessMs: policy.cacheMaxStalenessMs });
    const store = new EtcdSessionStore(this.etcd, this.keys, new LeaseBuckets(this.etcd, this.clock));
    this.touches = new TouchWriter(store, this.cache, this.clock, { leaseMarginMs: 2 * policy.scavengeIntervalMs, events: this.events });
    this.touches.onWriteError((err) => this.log.warn({ err: (err as Error).message }, 'touch write failed; will retry'));
    this.service = new SessionService({ store, cache: this.cache, feed: this.feed, config: options.config, clock: this.clock, touches: this.touches, events: this.events });
    this.server = new GrpcServer({ listen: options.listen });
    const gate = () => {
      if (this.stateValue !== 'serving' && this.stateValue !== 'draining') throw new NotServingError(this.stateValue);
    };
    const onCall: CallObserver = (m, code, ms, reason) => this.events.emit('call', m, code, ms, reason);
    this.etcd.observe((op, k, ms, err) => this.events.emit('etcd', op, k, ms, err));
    this.server.addService(SessionServiceService, sessionHandlers(this.service, gate, onCall));
    this.server.addService(HealthServiceDefinition, this.health.implementation);
    this.feed.on('lost', (err: Error) => {
      this.log.warn({ err: err.message }, 'watch lost; resuming from last applied revision');
      this.events.emit('watch-lost', err);
    });
    this.feed.on('state', (s: string) => {
      this.log.debug({ state: s }, 'watch state');
      this.refreshHealth();
    });
    this.feed.on('retry', (err: Error) => this.log.warn({ err: err.message }, 'etcd not reachable yet; retrying the initial sync'));
    this.feed.on('unreadable', (_hash: string, err: Error) => this.log.error({ err: err.message }, 'unreadable session record skipped'));
  }

  get state(): NodeState {
    return this.stateValue;
  }

  /** The bound gRPC port (after start). */
  get port(): number {
    return this.server.port;
  }

  private transition(from: NodeState[], to: NodeState): void {
    if (!from.includes(this.stateValue)) throw new Error(`node: cannot go from ${this.stateValue} to ${to}`);
    this.stateValue = to;
  }

  /**
   * Liveness ("") says the process works: SERVING from bind until draining, whatever etcd does, so
   * an etcd outage never restarts pods. Readiness (the service name) also needs a fresh mirror.
   */
  private refreshHealth(): void {
    const up = this.stateValue === 'starting' || this.stateValue === 'serving';
    this.health.set(LIVENESS_SERVICE, up);
    this.health.set(READINESS_SERVICE, this.stateValue === 'serving' && this.feed.isFresh());
  }

  /** Binds the port, syncs the mirror from etcd, then reports SERVING. */
  async start(): Promise<void> {
    this.transition(['new'], 'starting');
    const port = await this.server.start();
    this.refreshHealth();
    this.log.info({ port }, 'listening; syncing sessions from etcd');
    await this.feed.start();
    this.stateValue = 'serving';
    this.unsubscribeConfig = this.options.config.onChange((c) => this.log.info({ version: c.version }, 'config applied to new sessions'));
    this.refreshHealth();
    this.healthTimer = setInterval(() => this.refreshHealth(), this.options.healthIntervalMs ?? 250);
    this.healthTimer.unref();
    this.log.info({ sessions: this.cache.size, revision: this.feed.revision }, 'serving');
  }

  /** Graceful stop: NOT_SERVING → drain delay → finish in-flight calls → flush touches → stop watch → close etcd. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped' || this.stateValue === 'draining') return;
    const wasServing = this.stateValue === 'serving';
    this.stateValue = 'draining';
    clearInterval(this.healthTimer);
    this.health.setAll(false);
    if (wasServing && (this.options.drainDelayMs ?? 0) > 0) {
      this.log.info({ ms: this.options.drainDelayMs }, 'draining: NOT_SERVING, waiting for endpoints to update');
      await new Promise((r) => setTimeout(r, this.options.drainDelayMs));
    }
    this.health.closeWatchers();
    const how = await this.server.shutdown(this.options.shutdownGraceMs ?? 20_000);
    const failed = await this.touches.flush();
    if (failed > 0) this.log.warn({ failed }, 'some pending touches could not be written');
    this.unsubscribeConfig();
    this.feed.stop();
    this.etcd.close();
    this.stateValue = 'stopped';
    this.log.info({ calls: how }, 'stopped');
  }

  /** Stops at once without draining (tests simulating a crash use process kill instead). */
  async kill(): Promise<void> {
    this.stateValue = 'stopped';
    clearInterval(this.healthTimer);
    await this.server.shutdown(0);
    this.feed.stop();
    this.etcd.close();
  }
}
