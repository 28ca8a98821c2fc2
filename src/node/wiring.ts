import type { Logger } from 'pino';
import { AdminService } from '../app/admin-service.js';
import { CallerAuth } from '../auth/caller-auth.js';
import { PolicyFileSource } from '../auth/policy-source.js';
import { ClockOffset } from '../app/clock-offset.js';
import { ClockSampler } from '../app/clock-sampler.js';
import { EtcdEventLog } from '../store/etcd/event-log.js';
import { NodeEvents } from '../app/node-events.js';
import { NodeRegistry } from '../store/etcd/node-registry.js';
import { PresenceTracker } from '../app/presence.js';
import { Scavenger } from '../app/scavenger.js';
import { SessionService } from '../app/session-service.js';
import { TouchWriter } from '../app/touch-writer.js';
import { NodeMirror } from '../cache/node-mirror.js';
import { PresenceMirror } from '../cache/presence-mirror.js';
import { SessionCache } from '../cache/session-cache.js';
import { WatchFeed } from '../cache/watch-feed.js';
import type { Clock } from '../domain/clock.js';
import { ClockSkewError, NotServingError } from '../domain/errors.js';
import { HealthService as HealthServiceDefinition } from '../gen/grpc/health/v1/health.js';
import { AdminServiceService } from '../gen/sessionmanager/v1/admin_service.js';
import { SessionServiceService } from '../gen/sessionmanager/v1/session_service.js';
import { Elector } from '../leader/elector.js';
import { EtcdGateway } from '../store/etcd/client.js';
import { Keys } from '../store/etcd/keys.js';
import { LeaseBuckets } from '../store/etcd/lease-buckets.js';
import { PresenceStore } from '../store/etcd/presence-store.js';
import { EtcdSessionStore } from '../store/etcd/session-store.js';
import { adminHandlers } from '../transport/grpc/admin-handlers.js';
import { CallAccess } from '../transport/grpc/call-access.js';
import { HealthService } from '../transport/grpc/health.js';
import { addReflection } from '../transport/grpc/reflection.js';
import { GrpcServer } from '../transport/grpc/server.js';
import { sessionHandlers, type CallObserver } from '../transport/grpc/session-handlers.js';
import { StreamRegistry } from '../transport/grpc/streams.js';
import { withSafeDecoding } from '../transport/grpc/safe-decode.js';

import { nodeServerCredentials, readIdKey } from './credentials.js';
import { HEALTH_SERVICES } from './health.js';
import { acceptsCalls, type NodeState } from './lifecycle.js';
import type { SessionNodeOptions } from './options.js';
import { systemClock } from './system-clock.js';
import type { SessionStore } from '../domain/ports.js';

/**
 * NodeWiring is the composition root of one replica: it builds the etcd gateway, mirror, store,
 * service, scavenger and gRPC server, in dependency order, and exposes them read-only. The node's
 * lifecycle (start, the shutdown order, kill) lives in SessionNode (session-node.ts), which extends it.
 */
export abstract class NodeWiring {
  readonly etcd: EtcdGateway;
  readonly keys: Keys;
  readonly cache: SessionCache;
  readonly presenceMirror: PresenceMirror;
  readonly nodeMirror: NodeMirror;
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
  /** Telemetry events of this node (see NodeEventMap); subscribe before start(). A listener that throws is logged, never fatal. */
  readonly events: NodeEvents;
  readonly streams: StreamRegistry;
  /** Who may call what (SPEC rule 21). */
  readonly auth: CallerAuth;
  /** The live caller policy, when a policy file is configured. */
  readonly policy: PolicyFileSource | undefined;
  /** The session store port (read-only access for tools and tests; writes go through the service). */
  readonly store: SessionStore;
  protected readonly server: GrpcServer;
  protected readonly healthServer: GrpcServer | undefined;
  protected readonly clock: Clock;
  protected readonly log: Logger;

  constructor(protected readonly options: SessionNodeOptions) {
    if (!options.nodeId) throw new Error('node: nodeId is required');
    if ((options.drainDelayMs ?? 0) < 0) throw new Error('node: drainDelayMs must not be negative');
    if ((options.shutdownGraceMs ?? 20_000) < 0) throw new Error('node: shutdownGraceMs must not be negative');
    this.clock = options.clock ?? systemClock;
    this.log = options.logger;
    this.events = new NodeEvents((err) => this.log.error({ err: (err as Error)?.message ?? String(err) }, 'telemetry listener failed'));
    const config = options.config;
    const policy = () => config.current().policy;
    this.etcd = new EtcdGateway(options.etcd);
    this.keys = new Keys(options.prefix ?? '/session-manager/');
    // Deletes are remembered well past any read still in flight (the etcd deadline) and a few
    // staleness windows (ARCHITECTURE decision 11).
    const requestTimeoutMs = options.etcd.requestTimeoutMs ?? 3000;
    this.cache = new SessionCache({
      keys: this.keys,
      tombstoneRetentionMs: () => Math.max(60_000, 4 * policy().cacheMaxStalenessMs, 10 * requestTimeoutMs),
      onUnreadable: (err) => this.log.error({ err: (err as Error).message }, 'unreadable session record skipped'),
    });
    this.presenceMirror = new PresenceMirror(this.keys, this.clock);
    this.nodeMirror = new NodeMirror(this.keys.nodes());
    const clockPublishMs = options.clockPublishIntervalMs ?? 3000;
    this.clockOffset = new ClockOffset(this.clock, { boundMs: () => policy().maxClockSkewMs, peerTimeoutMs: 3 * (clockPublishMs || 3000) });
    new ClockSampler(this.nodeMirror.mirror, this.clockOffset, this.keys.node(options.nodeId), () => void this.registry.refresh().catch(() => {}));
    this.feed = new WatchFeed(this.etcd, [this.cache.mirror, this.presenceMirror.mirror, this.nodeMirror.mirror], {
      maxStalenessMs: () => policy().cacheMaxStalenessMs,
      syncKey: this.keys.syncMarker(),
    });
    const leases = new LeaseBuckets(this.etcd, this.clock);
    const store = new EtcdSessionStore(this.etcd, this.keys, leases, {
      eventRetentionMs: () => policy().eventsRetentionMs,
      clock: this.clock,
      onEventLost: (reason) => this.log.warn({ reason }, 'etcd over quota: session ended without its lifecycle event'),
    });
    this.store = store;
    const presenceStore = new PresenceStore(this.etcd, this.keys, options.nodeId);
    this.touches = new TouchWriter(store, this.cache, this.clock, { leaseMarginMs: () => 2 * policy().scavengeIntervalMs + policy().maxClockSkewMs });
    this.touches.on('write-error', (err) => this.log.warn({ err: (err as Error).message }, 'touch write failed; will retry'));
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
    this.presence.on('publish-error', (err) => this.log.warn({ err: (err as Error).message }, 'presence publish failed'));
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
        events: this.events,
        families: store.families,
      },
      { nodeId: options.nodeId, ...(options.idKeyFile ? { idKey: readIdKey(options.idKeyFile) } : {}) },
    );
    this.cache.onDelete((hash) => {
      this.presence.forget(hash);
      this.presenceMirror.forget(hash);
    });
    this.elector = new Elector(this.etcd.election(this.keys.prefix, 'scavenger', options.electionTtlSeconds || 10), { nodeId: options.nodeId });
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
    const credentials = nodeServerCredentials(options.tls, !anonymous);
    this.server = new GrpcServer({
      listen: options.listen,
      ...(credentials ? { credentials } : {}),
      ...(options.keepaliveTimeMs ? { keepaliveTimeMs: options.keepaliveTimeMs } : {}),
      ...(options.keepaliveTimeoutMs ? { keepaliveTimeoutMs: options.keepaliveTimeoutMs } : {}),
    });
    const gate = () => {
      if (!acceptsCalls(this.state)) throw new NotServingError(this.state);
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
  }

  /** The node's lifecycle state (SessionNode). */
  abstract get state(): NodeState;
}
