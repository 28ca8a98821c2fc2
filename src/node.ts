import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { AdminService } from './app/admin-service.js';
import { CallerAuth } from './auth/caller-auth.js';
import { PolicyFileSource } from './auth/policy-source.js';
import { ClockOffset } from './app/clock-offset.js';
import { ClockSamplingChannel } from './app/clock-sampling-channel.js';
import { EtcdEventLog } from './store/etcd/event-log.js';
import { NodeEvents } from './app/node-events.js';
import { NodeRegistry } from './store/etcd/node-registry.js';
import { PresenceTracker } from './app/presence.js';
import { Scavenger } from './app/scavenger.js';
import { SessionService } from './app/session-service.js';
import { TouchWriter } from './app/touch-writer.js';
import { NodeChannel } from './cache/node-channel.js';
import { PresenceChannel } from './cache/presence-channel.js';
import { SessionCache } from './cache/session-cache.js';
import { SessionChannel } from './cache/session-channel.js';
import { WatchFeed } from './cache/watch-feed.js';
import type { ConfigSource } from './config/loader.js';
import type { Clock } from './domain/clock.js';
import { ClockSkewError, NotServingError } from './domain/errors.js';
import { HealthService as HealthServiceDefinition } from './gen/grpc/health/v1/health.js';
import { AdminServiceService } from './gen/sessionmanager/v1/admin_service.js';
import { SessionServiceService } from './gen/sessionmanager/v1/session_service.js';
import { Elector } from './leader/elector.js';
import { EtcdGateway, type EtcdClientOptions } from './store/etcd/client.js';
import { Keys } from './store/etcd/keys.js';
import { LeaseBuckets } from './store/etcd/lease-buckets.js';
import { PresenceStore } from './store/etcd/presence-store.js';
import { EtcdSessionStore } from './store/etcd/session-store.js';
import { adminHandlers } from './transport/grpc/admin-handlers.js';
import { CallAccess } from './transport/grpc/call-access.js';
import { serverCredentials } from './transport/grpc/tls.js';
import { HealthService } from './transport/grpc/health.js';
import { addReflection } from './transport/grpc/reflection.js';
import { GrpcServer } from './transport/grpc/server.js';
import { sessionHandlers, type CallObserver } from './transport/grpc/session-handlers.js';
import { StreamRegistry } from './transport/grpc/streams.js';
import { withSafeDecoding } from './transport/grpc/safe-decode.js';

/** Reads the CLIENT_ADDRESS id key; refuses keys too short to resist guessing. */
function readIdKey(file: string): Buffer {
  const key = readFileSync(file);
  if (key.length < 32) throw new Error(`node: the id key in ${file} must be at least 32 bytes`);
  return key;
}

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
  /** File with the admin bearer token; unset disables the AdminService (PERMISSION_DENIED). */
  adminTokenFile?: string;
  /** Node lease TTL in seconds. Default 10. */
  nodeLeaseTtlSeconds?: number;
  /** Scavenger election TTL in seconds: how fast a dead leader is replaced. Default 10. */
  electionTtlSeconds?: number;
  /** Most open server streams (Attach + WatchEvents) on this node. Default 10000. */
  maxStreams?: number;
  /** How often presence instances are swept. Default 1000 ms. */
  presenceSweepMs?: number;
  /** File with the HMAC key (at least 32 bytes) of CLIENT_ADDRESS session ids; unset disables that mode. */
  idKeyFile?: string;
  /** Serve gRPC over TLS; with clientCaFile, require client certificates signed by it (mTLS). */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Client-certificate identities (CN or SAN) allowed to call the AdminService over mTLS. */
  adminIdentities?: readonly string[];
  /**
   * --insecure-allow-anonymous: every caller is allowed everything (local experiments only). Default
   * false: every SessionService and AdminService call must authenticate (SPEC rule 21).
   */
  allowAnonymous?: boolean;
  /** The caller policy file (JSON, reloaded live); unset: only the legacy admin caller exists. */
  policyFile?: string;
  /** Poll interval of the policy file under its directory watch. Default 10 s. */
  policyPollMs?: number;
  /** How often bearer token files are re-checked. Default 1000 ms. */
  tokenRecheckMs?: number;
  /**
   * host:port of a second, plaintext listener serving only grpc.health.v1 (kubelet gRPC probes
   * cannot speak TLS). Default none: health is served on the main port only.
   */
  healthListen?: string;
  /** Server keepalive: ping a quiet client after this long (ms). Default 10 000 (GrpcServer). */
  keepaliveTimeMs?: number;
  /** Server keepalive: drop the connection when the ping is not answered within this (ms). Default 10 000. */
  keepaliveTimeoutMs?: number;
  /** How often this node publishes its wall time for clock-offset measurement (ms). Default 3000. */
  clockPublishIntervalMs?: number;
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
  readonly cache: SessionCache;
  readonly presenceMirror: PresenceChannel;
  readonly nodeMirror: NodeChannel;
  readonly feed: WatchFeed;
  readonly touches: TouchWriter;
  readonly presence: PresenceTracker;
  readonly registry: NodeRegistry;
  /** This node's measured wall-clock offset from the other nodes (cluster.max-clock-skew). */
  readonly clockOffset: ClockOffset;
  readonly elector: Elector;
  readonly scavenger: Scavenger;
  readonly service: SessionService;
  readonly admin: AdminService;
  readonly health = new HealthService(HEALTH_SERVICES);
  /** Telemetry events of this node (see NodeEventMap); subscribe before start(). */
  readonly events = new NodeEvents();
  readonly streams: StreamRegistry;
  /** Who may call what (SPEC rule 21). */
  readonly auth: CallerAuth;
  /** The live caller policy, when a policy file is configured. */
  readonly policy: PolicyFileSource | undefined;
  private readonly server: GrpcServer;
  private readonly healthServer: GrpcServer | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private healthTimer: NodeJS.Timeout | undefined;
  private clockOk = true;
  private unsubscribeConfig: () => void = () => {};

  constructor(private readonly options: SessionNodeOptions) {
    if (!options.nodeId) throw new Error('node: nodeId is required');
    if ((options.drainDelayMs ?? 0) < 0) throw new Error('node: drainDelayMs must not be negative');
    if ((options.shutdownGraceMs ?? 20_000) < 0) throw new Error('node: shutdownGraceMs must not be negative');
    this.clock = options.clock ?? systemClock;
    this.log = options.logger;
    const config = options.config;
    const policy = () => config.current().policy;
    this.etcd = new EtcdGateway(options.etcd);
    this.keys = new Keys(options.prefix ?? '/session-manager/');
    // Deletes are remembered well past any read still in flight (the etcd deadline) and a few
    // staleness windows (ARCHITECTURE decision 11).
    const requestTimeoutMs = options.etcd.requestTimeoutMs ?? 3000;
    this.cache = new SessionCache({ tombstoneRetentionMs: () => Math.max(60_000, 4 * policy().cacheMaxStalenessMs, 10 * requestTimeoutMs) });
    this.presenceMirror = new PresenceChannel(this.keys, this.clock);
    this.nodeMirror = new NodeChannel(this.keys.nodes());
    const clockPublishMs = options.clockPublishIntervalMs ?? 3000;
    this.clockOffset = new ClockOffset(this.clock, { boundMs: () => policy().maxClockSkewMs, peerTimeoutMs: 3 * (clockPublishMs || 3000) });
    const sessions = new SessionChannel(this.keys, this.cache, (err) => this.log.error({ err: (err as Error).message }, 'unreadable session record skipped'));
    const nodeSamples = new ClockSamplingChannel(this.nodeMirror, this.clockOffset, this.keys.node(options.nodeId), () => void this.registry.refresh().catch(() => {}));
    this.feed = new WatchFeed(this.etcd, [sessions, this.presenceMirror, nodeSamples], {
      maxStalenessMs: () => policy().cacheMaxStalenessMs,
      syncKey: this.keys.syncMarker(),
    });
    const leases = new LeaseBuckets(this.etcd, this.clock);
    const store = new EtcdSessionStore(this.etcd, this.keys, leases, {
      eventRetentionMs: () => policy().eventsRetentionMs,
      clock: this.clock,
      onEventLost: (reason) => this.log.warn({ reason }, 'etcd over quota: session ended without its lifecycle event'),
    });
    const presenceStore = new PresenceStore(this.etcd, this.keys, options.nodeId);
    this.touches = new TouchWriter(store, this.cache, this.clock, { leaseMarginMs: () => 2 * policy().scavengeIntervalMs + policy().maxClockSkewMs, events: this.events });
    this.touches.onWriteError((err) => this.log.warn({ err: (err as Error).message }, 'touch write failed; will retry'));
    this.registry = new NodeRegistry(this.etcd, this.keys, {
      nodeId: options.nodeId,
      startTime: this.clock.now(),
      configVersion: () => config.current().version,
      clock: this.clock,
      publishIntervalMs: clockPublishMs,
      ...(options.nodeLeaseTtlSeconds ? { ttlSeconds: options.nodeLeaseTtlSeconds } : {}),
    });
    this.presence = new PresenceTracker(presenceStore, () => this.registry.leaseId, this.clock, {
      graceMs: () => policy().presenceGraceMs,
      ...(options.presenceSweepMs ? { sweepIntervalMs: options.presenceSweepMs } : {}),
    });
    this.presence.onPublishError((err) => this.log.warn({ err: (err as Error).message }, 'presence publish failed'));
    this.service = new SessionService(
      {
        store,
        cache: this.cache,
        feed: this.feed,
        config,
        clock: this.clock,
        touches: this.touches,
        presence: this.presence,
        presenceMirror: this.presenceMirror,
        presenceStore,
        events: this.events,
        families: store.families,
      },
      { nodeId: options.nodeId, ...(options.idKeyFile ? { idKey: readIdKey(options.idKeyFile) } : {}) },
    );
    this.cache.onDelete((hash) => {
      this.presence.forget(hash);
      this.presenceMirror.forget(hash);
    });
    this.elector = new Elector(this.etcd.client, this.keys.prefix, {
      name: 'scavenger',
      nodeId: options.nodeId,
      ...(options.electionTtlSeconds ? { ttlSeconds: options.electionTtlSeconds } : {}),
    });
    this.scavenger = new Scavenger(
      { elector: this.elector, service: this.service, store, feed: this.feed, clock: this.clock, events: this.events, log: this.log, families: store.families },
      { intervalMs: () => policy().scavengeIntervalMs, clockSkewMarginMs: () => policy().maxClockSkewMs, clockTrusted: () => this.clockOffset.withinBound() },
    );
    this.admin = new AdminService({
      service: this.service,
      store,
      cache: this.cache,
      feed: this.feed,
      clock: this.clock,
      nodes: () => this.nodeMirror.list(),
      leader: () => this.elector.leader(),
      config: () => ({ version: config.current().version, error: config.lastError?.() ?? '' }),
    });
    this.streams = new StreamRegistry(options.maxStreams ?? 10_000);
    const anonymous = options.allowAnonymous ?? false;
    this.policy = options.policyFile
      ? new PolicyFileSource({ path: options.policyFile, log: this.log, ...(options.policyPollMs ? { pollMs: options.policyPollMs } : {}) })
      : undefined;
    this.policy?.onReject((problems) => this.events.emit('auth-policy-rejected', problems));
    this.auth = new CallerAuth({
      mode: anonymous ? 'anonymous' : 'required',
      ...(this.policy ? { policy: this.policy } : {}),
      ...(options.adminTokenFile ? { adminTokenFile: options.adminTokenFile } : {}),
      adminIdentities: options.adminIdentities ?? [],
      ...(options.tokenRecheckMs !== undefined ? { tokenRecheckMs: options.tokenRecheckMs } : {}),
      onTokenProblem: (file, problem) => this.log.warn({ file }, problem),
    });
    const access = new CallAccess(this.auth, (fields, msg) => this.log.info({ audit: true, ...fields }, msg));
    this.server = new GrpcServer({
      listen: options.listen,
      ...(options.tls ? { credentials: serverCredentials(options.tls, !anonymous) } : {}),
      ...(options.keepaliveTimeMs ? { keepaliveTimeMs: options.keepaliveTimeMs } : {}),
      ...(options.keepaliveTimeoutMs ? { keepaliveTimeoutMs: options.keepaliveTimeoutMs } : {}),
    });
    const gate = () => {
      if (this.stateValue !== 'serving' && this.stateValue !== 'draining') throw new NotServingError(this.stateValue);
    };
    // A node whose clock is beyond cluster.max-clock-skew neither judges nor stamps deadlines.
    const sessionGate = () => {
      gate();
      if (!this.clockOffset.withinBound()) throw new ClockSkewError(this.clockOffset.offsetMs, policy().maxClockSkewMs);
    };
    const onCall: CallObserver = (m, code, ms, reason) => this.events.emit('call', m, code, ms, reason);
    this.etcd.observe((op, k, ms, err) => this.events.emit('etcd', op, k, ms, err));
    this.server.addService(withSafeDecoding(SessionServiceService), sessionHandlers(this.service, sessionGate, onCall, this.streams, this.cache, access));
    this.server.addService(
      withSafeDecoding(AdminServiceService),
      adminHandlers(this.admin, new EtcdEventLog(this.etcd, this.keys), access, gate, onCall, this.streams, async (ref) => (await this.service.lookup(ref))?.rec.site),
    );
    this.server.addService(HealthServiceDefinition, this.health.implementation);
    addReflection(this.server);
    if (options.healthListen) {
      this.healthServer = new GrpcServer({ listen: options.healthListen });
      this.healthServer.addService(HealthServiceDefinition, this.health.implementation);
    }
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
    });
    this.registry.on('renewed', () => {
      this.log.info({}, 'node lease re-acquired; re-publishing presence');
      void this.presence.republishAll();
    });
  }

  get state(): NodeState {
    return this.stateValue;
  }

  /** The bound gRPC port (after start). */
  get port(): number {
    return this.server.port;
  }

  /** The bound port of the plaintext health listener, if any (after start). */
  get healthPort(): number | undefined {
    return this.healthServer?.port;
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
    const clockOk = this.clockOffset.withinBound();
    if (clockOk !== this.clockOk) {
      this.clockOk = clockOk;
      const fields = { offsetMs: Math.round(this.clockOffset.offsetMs), boundMs: this.options.config.current().policy.maxClockSkewMs, peers: this.clockOffset.peerCount };
      if (clockOk) this.log.info(fields, 'clock offset back within cluster.max-clock-skew; ready again');
      else this.log.warn(fields, 'clock offset beyond cluster.max-clock-skew: NOT_SERVING, ending nothing');
    }
    this.health.set(READINESS_SERVICE, this.stateValue === 'serving' && this.feed.isFresh() && clockOk);
  }

  /** Binds the port, syncs the mirror from etcd, then reports SERVING. */
  async start(): Promise<void> {
    this.transition(['new'], 'starting');
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
    this.stateValue = 'serving';
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
   */
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
    this.streams.closeAll();
    const how = await this.server.shutdown(this.options.shutdownGraceMs ?? 20_000);
    await this.healthServer?.shutdown(0);
    await this.scavenger.stop();
    const failed = await this.touches.flush();
    if (failed > 0) this.log.warn({ failed }, 'some pending touches could not be written');
    this.presence.stop();
    this.unsubscribeConfig();
    this.policy?.stop();
    this.feed.stop();
    await this.registry.stop();
    this.etcd.close();
    this.stateValue = 'stopped';
    this.log.info({ calls: how }, 'stopped');
  }

  /**
   * Stops at once without draining, resigning or revoking anything, as a crash would: its leases
   * expire on their own (tests of failover; a process kill does the same).
   */
  async kill(): Promise<void> {
    this.stateValue = 'stopped';
    clearInterval(this.healthTimer);
    this.presence.stop();
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
