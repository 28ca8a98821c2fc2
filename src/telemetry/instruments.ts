import type { Meter } from '@opentelemetry/api';

// The instruments of the `session_manager_*` metrics: their names, units, descriptions and buckets
// (docs/observability.md lists them). NodeMetrics (metrics.ts) records into them.

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

/** Bucket boundaries (seconds) of request latencies: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Bucket boundaries (seconds) of scavenger cycles: 10 ms to 5 min. */
export const CYCLE_BUCKETS_S = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The RPC duration histogram. It is no SDK instrument: it is accumulated per attribute set without
 * the SDK's per-call attribute hashing and reported at collection (rpc-duration.ts), with this name,
 * unit, description and bucket boundaries.
 */
export const RPC_DURATION = {
  name: METRIC.rpcDuration,
  unit: 's',
  description: 'Duration of SessionService RPCs, by method and gRPC status code.',
  boundaries: LATENCY_BUCKETS_S,
} as const;

/** Creates every instrument of NodeMetrics on `meter` (the RPC duration histogram aside: RPC_DURATION). */
export function createInstruments(meter: Meter) {
  const s = { unit: 's' };
  return {
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

/** Every instrument of NodeMetrics. */
export type Instruments = ReturnType<typeof createInstruments>;
