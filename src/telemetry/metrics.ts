import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { NodeEventMap, NodeEvents } from '../app/node-events.js';
import type { EtcdInstrumentation } from '../store/etcd/client.js';
import { BoundedLabel, errorLabel, keyClassLabel, opLabel, OTHER } from './labels.js';

/**
 * Names of the metrics, as OpenTelemetry instrument names. Prometheus sees the same names, with
 * `_total` appended to counters; the unit is part of the name where it has one (`_seconds`).
 */
export const METRIC = {
  rpcDuration: 'session_manager_rpc_server_duration_seconds',
  sessionsLive: 'session_manager_sessions_live',
  sessionsCreated: 'session_manager_sessions_created',
  sessionsEnded: 'session_manager_sessions_ended',
  verdicts: 'session_manager_validate_verdicts',
  cacheLookups: 'session_manager_cache_lookups',
  cacheStaleness: 'session_manager_cache_staleness_seconds',
  etcdDuration: 'session_manager_etcd_request_duration_seconds',
  etcdErrors: 'session_manager_etcd_request_errors',
  touches: 'session_manager_touches',
  scavengeDuration: 'session_manager_scavenge_cycle_duration_seconds',
  scavengeLag: 'session_manager_scavenge_lag_seconds',
  scavengeLastCycle: 'session_manager_scavenge_last_cycle_timestamp_seconds',
  scavengeScanned: 'session_manager_scavenge_scanned_sessions',
  scavengeEnded: 'session_manager_scavenge_ended_sessions',
  scavengeFencedOut: 'session_manager_scavenge_fenced_out',
  leader: 'session_manager_scavenger_leader',
  configInfo: 'session_manager_config_info',
  configReloads: 'session_manager_config_reloads',
  configReloadFailures: 'session_manager_config_reload_failures',
  authPolicyReloadFailures: 'session_manager_auth_policy_reload_failures',
  nodeLeaseLosses: 'session_manager_node_lease_losses',
  watchLosses: 'session_manager_watch_losses',
  watchRelists: 'session_manager_watch_relists',
  watchReconnects: 'session_manager_watch_reconnects',
  watchEventsApplied: 'session_manager_watch_events_applied',
  clockOffset: 'session_manager_clock_offset_seconds',
} as const;

/** Sessions counted per event-loop turn when gauging live sessions. */
const LIVE_COUNT_SLICE = 5_000;

/** Bucket boundaries (seconds) of request latencies: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bucket boundaries (seconds) of scavenger cycles: 10 ms to 5 min. */
export const CYCLE_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What the metrics read from a node: SessionNode has this shape. */
export interface TelemetryTarget {
  readonly events: NodeEvents;
  readonly etcd: { instrument(instrumentation: EtcdInstrumentation): void };
  readonly cache: { values(): Iterable<{ readonly rec: { readonly site: string; readonly clientType: string } }> };
  readonly service: { readonly stats: { readonly cacheHits: number; readonly cacheMisses: number } };
  readonly feed: { stalenessMs(): number; readonly stats: { readonly relists: number; readonly reconnects: number; readonly eventsApplied: number } };
  readonly touches: { readonly stats: { readonly coalesced: number; readonly written: number; readonly failed: number } };
  /** This node's measured wall-clock offset from the other nodes (absent: not exported). */
  readonly clockOffset?: { readonly offsetMs: number };
}

/** Options of NodeMetrics. */
export interface NodeMetricsOptions {
  /** Distinct site label values before the rest are reported as `other`. Default 100. */
  siteLimit?: number;
  /** The configuration in force, for `session_manager_config_info`; else the last `config-applied` version. */
  config?: { current(): { readonly version: string } };
}

/** A stable ErrorInfo reason, or `other`. */
function reasonLabel(reason: string): string {
  return /^[A-Z][A-Z0-9_]{0,47}$/.test(reason) ? reason : OTHER;
}

/** Creates every instrument of NodeMetrics on `meter`. */
function createInstruments(meter: Meter) {
  const s = { unit: 's' };
  return {
    rpcDuration: meter.createHistogram(METRIC.rpcDuration, {
      ...s,
      description: 'Duration of SessionService RPCs, by method and gRPC status code.',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    }),
    sessionsLive: meter.createObservableGauge(METRIC.sessionsLive, {
      unit: '{session}',
      description: 'Session records in this replica’s mirror of etcd (cluster-wide, not per replica), by site and client type.',
    }),
    sessionsCreated: meter.createCounter(METRIC.sessionsCreated, { unit: '{session}', description: 'Sessions created (logins) by this replica.' }),
    sessionsEnded: meter.createCounter(METRIC.sessionsEnded, { unit: '{session}', description: 'Sessions ended by this replica, by end reason.' }),
    verdicts: meter.createCounter(METRIC.verdicts, { unit: '{request}', description: 'ValidateSession answers, by verdict.' }),
    cacheLookups: meter.createObservableCounter(METRIC.cacheLookups, {
      unit: '{lookup}',
      description: 'Session lookups answered from memory (hit) or from etcd (miss).',
    }),
    cacheStaleness: meter.createObservableGauge(METRIC.cacheStaleness, {
      ...s,
      description: 'Time since etcd last confirmed the session mirror complete.',
    }),
    etcdDuration: meter.createHistogram(METRIC.etcdDuration, {
      ...s,
      description: 'Duration of etcd requests, by operation and key class.',
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    }),
    etcdErrors: meter.createCounter(METRIC.etcdErrors, { unit: '{request}', description: 'Failed etcd requests, by operation and error type.' }),
    touches: meter.createObservableCounter(METRIC.touches, {
      unit: '{touch}',
      description: 'Session touches kept in memory (coalesced), written to etcd (written), or whose write failed (failed).',
    }),
    scavengeDuration: meter.createHistogram(METRIC.scavengeDuration, {
      ...s,
      description: 'Duration of scavenger cycles run by this replica.',
      advice: { explicitBucketBoundaries: CYCLE_BUCKETS_S },
    }),
    scavengeLag: meter.createObservableGauge(METRIC.scavengeLag, { ...s, description: 'How late the last scavenger cycle started against its schedule.' }),
    scavengeLastCycle: meter.createObservableGauge(METRIC.scavengeLastCycle, {
      ...s,
      description: 'Unix time at which this replica last finished a scavenger cycle.',
    }),
    scavengeScanned: meter.createCounter(METRIC.scavengeScanned, { unit: '{session}', description: 'Sessions examined by the scavenger.' }),
    scavengeEnded: meter.createCounter(METRIC.scavengeEnded, { unit: '{session}', description: 'Sessions ended by the scavenger, by end reason.' }),
    scavengeFencedOut: meter.createCounter(METRIC.scavengeFencedOut, {
      unit: '{operation}',
      description: 'Scavenger deletes refused by the leadership fence (a deposed leader’s writes).',
    }),
    clockOffset: meter.createObservableGauge(METRIC.clockOffset, {
      ...s,
      description: "This node's wall clock minus the other nodes' (median), as measured from their registry writes; readiness is left beyond cluster.max-clock-skew.",
    }),
    leader: meter.createObservableGauge(METRIC.leader, { unit: '1', description: '1 while this replica is the elected scavenger, else 0.' }),
    configInfo: meter.createObservableGauge(METRIC.configInfo, { unit: '1', description: 'Always 1; the version label is the configuration in force.' }),
    configReloads: meter.createCounter(METRIC.configReloads, { unit: '{reload}', description: 'Configuration changes applied.' }),
    configReloadFailures: meter.createCounter(METRIC.configReloadFailures, {
      unit: '{reload}',
      description: 'Configuration changes rejected as invalid (the last good configuration stays in force).',
    }),
    authPolicyReloadFailures: meter.createCounter(METRIC.authPolicyReloadFailures, {
      unit: '{reload}',
      description: 'Caller policy changes rejected as invalid (the last good policy stays in force).',
    }),
    nodeLeaseLosses: meter.createCounter(METRIC.nodeLeaseLosses, { unit: '{event}', description: 'Node leases lost (and re-acquired).' }),
    watchLosses: meter.createCounter(METRIC.watchLosses, { unit: '{event}', description: 'Session watch streams that broke while live.' }),
    watchRelists: meter.createObservableCounter(METRIC.watchRelists, {
      unit: '{relist}',
      description: 'Full re-reads of the session prefix, the initial one included.',
    }),
    watchReconnects: meter.createObservableCounter(METRIC.watchReconnects, { unit: '{reconnect}', description: 'Watch re-establishments.' }),
    watchEventsApplied: meter.createObservableCounter(METRIC.watchEventsApplied, {
      unit: '{event}',
      description: 'Watch events applied to the session mirror.',
    }),
  };
}

type Instruments = ReturnType<typeof createInstruments>;

type Listeners = { [K in keyof NodeEventMap]?: (...args: NodeEventMap[K]) => void };

/** Most pre-bound RPC attribute sets kept (methods × codes × reasons is small; this only bounds a surprise). */
const MAX_BOUND_ATTRS = 4096;

/**
 * NodeMetrics turns a node's telemetry events and counters into the `session_manager_*` metrics
 * (docs/observability.md lists them). Event-driven instruments are recorded as events arrive;
 * gauges and counters kept by the node are read when the metrics are collected.
 */
export class NodeMetrics {
  private readonly sites: BoundedLabel;
  private readonly m: Instruments;

  constructor(
    private readonly meter: Meter,
    private readonly options: NodeMetricsOptions = {},
  ) {
    this.sites = new BoundedLabel(options.siteLimit ?? 100);
    this.m = createInstruments(meter);
  }

  /** Subscribes to a node's events and observes its counters; returns the function that undoes it. */
  attach(target: TelemetryTarget): () => void {
    const m = this.m;
    const state = { leader: 0, lagS: undefined as number | undefined, lastCycleS: undefined as number | undefined, version: undefined as string | undefined };
    const callAttrs = new Map<string, Attributes>();
    const verdictAttrs: Partial<Record<string, Attributes>> = {};
    const listeners: Listeners = {
      call: (method, code, ms, reason) => {
        // Attribute sets are built once per (method, code, reason) and reused: nothing allocated per call.
        const key = code === 0 ? method : `${method}\n${code}\n${reason ?? ''}`;
        let attrs = callAttrs.get(key);
        if (!attrs) {
          attrs = { 'rpc.method': method, 'rpc.grpc.status_code': code };
          if (code !== 0) attrs['error.type'] = reason ? reasonLabel(reason) : OTHER;
          if (callAttrs.size < MAX_BOUND_ATTRS) callAttrs.set(key, attrs);
        }
        m.rpcDuration.record(ms / 1000, attrs);
      },
      etcd: (op, keyClass, ms, err) => {
        const attrs: Attributes = { 'db.operation.name': opLabel(op), key_class: keyClassLabel(keyClass) };
        if (err) {
          const type = errorLabel(err);
          attrs['error.type'] = type;
          m.etcdErrors.add(1, { 'db.operation.name': opLabel(op), 'error.type': type });
        }
        m.etcdDuration.record(ms / 1000, attrs);
      },
      'session-created': (site, clientType) => m.sessionsCreated.add(1, { site: this.sites.of(site), client_type: clientType }),
      'session-ended': (site, clientType, reason) => m.sessionsEnded.add(1, { site: this.sites.of(site), client_type: clientType, reason }),
      verdict: (verdict) => m.verdicts.add(1, (verdictAttrs[verdict] ??= { verdict })),
      'scavenge-cycle': (r) => {
        m.scavengeDuration.record(Math.max(0, r.durationMs) / 1000);
        m.scavengeScanned.add(r.scanned);
        for (const [reason, n] of Object.entries(r.ended)) if (n) m.scavengeEnded.add(n, { reason });
        if (r.fencedOut) m.scavengeFencedOut.add(r.fencedOut);
        state.lagS = Math.max(0, r.lagMs) / 1000;
        state.lastCycleS = Date.now() / 1000;
      },
      leadership: (leader) => {
        state.leader = leader ? 1 : 0;
      },
      'node-lease-lost': () => m.nodeLeaseLosses.add(1),
      'config-applied': (version) => {
        state.version = version;
        m.configReloads.add(1);
      },
      'config-rejected': () => m.configReloadFailures.add(1),
      'auth-policy-rejected': () => m.authPolicyReloadFailures.add(1),
      'watch-lost': () => m.watchLosses.add(1),
    };
    for (const [event, fn] of Object.entries(listeners)) target.events.on(event as keyof NodeEventMap, fn as never);

    // Live sessions are counted by walking the mirror at each collection, in slices that yield to the
    // event loop (a million sessions take ~100 ms of CPU: never in one block); groups seen before and
    // now empty report 0 rather than vanish.
    const seenGroups = new Map<string, Set<string>>();
    const observables: Observable[] = [
      m.sessionsLive,
      m.cacheLookups,
      m.cacheStaleness,
      m.touches,
      m.scavengeLag,
      m.scavengeLastCycle,
      m.leader,
      m.clockOffset,
      m.configInfo,
      m.watchRelists,
      m.watchReconnects,
      m.watchEventsApplied,
    ];
    const seenVersions = new Set<string>();
    const observe = async (r: BatchObservableResult) => {
      const counts = new Map<string, Map<string, number>>();
      const it = target.cache.values()[Symbol.iterator]();
      for (let done = false; !done; ) {
        for (let i = 0; i < LIVE_COUNT_SLICE; i++) {
          const next = it.next();
          if (next.done) {
            done = true;
            break;
          }
          const site = this.sites.of(next.value.rec.site);
          let bySite = counts.get(site);
          if (!bySite) counts.set(site, (bySite = new Map()));
          bySite.set(next.value.rec.clientType, (bySite.get(next.value.rec.clientType) ?? 0) + 1);
        }
        if (!done) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      for (const [site, types] of counts) {
        let seen = seenGroups.get(site);
        if (!seen) seenGroups.set(site, (seen = new Set()));
        for (const t of types.keys()) seen.add(t);
      }
      for (const [site, types] of seenGroups) {
        for (const clientType of types) r.observe(m.sessionsLive, counts.get(site)?.get(clientType) ?? 0, { site, client_type: clientType });
      }
      const st = target.service.stats;
      r.observe(m.cacheLookups, st.cacheHits, { result: 'hit' });
      r.observe(m.cacheLookups, st.cacheMisses, { result: 'miss' });
      const stale = target.feed.stalenessMs();
      if (Number.isFinite(stale)) r.observe(m.cacheStaleness, Math.max(0, stale) / 1000);
      const t = target.touches.stats;
      r.observe(m.touches, t.coalesced, { result: 'coalesced' });
      r.observe(m.touches, t.written, { result: 'written' });
      r.observe(m.touches, t.failed, { result: 'failed' });
      if (state.lagS !== undefined) r.observe(m.scavengeLag, state.lagS);
      if (state.lastCycleS !== undefined) r.observe(m.scavengeLastCycle, state.lastCycleS);
      r.observe(m.leader, state.leader);
      if (target.clockOffset) r.observe(m.clockOffset, target.clockOffset.offsetMs / 1000);
      const version = this.options.config?.current().version ?? state.version;
      if (version !== undefined) {
        // An info metric: the version in force is 1; versions replaced earlier report 0.
        for (const v of seenVersions) if (v !== version) r.observe(m.configInfo, 0, { version: v });
        seenVersions.delete(version);
        seenVersions.add(version);
        if (seenVersions.size > 16) seenVersions.delete(seenVersions.values().next().value as string);
        r.observe(m.configInfo, 1, { version });
      }
      const f = target.feed.stats;
      r.observe(m.watchRelists, f.relists);
      r.observe(m.watchReconnects, f.reconnects);
      r.observe(m.watchEventsApplied, f.eventsApplied);
    };
    this.meter.addBatchObservableCallback(observe, observables);

    return () => {
      this.meter.removeBatchObservableCallback(observe, observables);
      for (const [event, fn] of Object.entries(listeners)) target.events.off(event as keyof NodeEventMap, fn as never);
    };
  }
}
