import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import type { NodeEventMap, NodeEvents } from '../app/node-events.js';
import type { EtcdInstrumentation } from '../store/etcd/client.js';
import { callRecorderOf, VerdictTally } from './bound-recorders.js';
import { createInstruments, type Instruments } from './instruments.js';
import { BoundedLabel, errorLabel, keyClassLabel, opLabel } from './labels.js';
import { rpcDurationTable } from './rpc-duration.js';
import { INSTRUMENTATION_SCOPE } from './tracing.js';

export { CYCLE_BUCKETS_S, LATENCY_BUCKETS_S, METRIC } from './instruments.js';

/** Sessions counted per event-loop turn when gauging live sessions. */
const LIVE_COUNT_SLICE = 5_000;

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
  /** The instrumentation scope name of the meter, under which the RPC duration histogram is reported. Default `session-manager`. */
  scope?: string;
}



type Listeners = { [K in keyof NodeEventMap]?: (...args: NodeEventMap[K]) => void };

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
    // Recorded into pre-bound accumulators (bound-recorders.ts, rpc-duration.ts): nothing is built
    // or hashed per call. Every NodeMetrics of a meter shares its table, as it would share an instrument.
    const table = rpcDurationTable(this.meter, m.leader, { name: this.options.scope ?? INSTRUMENTATION_SCOPE });
    const calls = callRecorderOf(table);
    const verdicts = new VerdictTally(m.verdicts);
    const listeners: Listeners = {
      call: (method, code, ms, reason) => calls.record(method, code, ms, reason),
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
      verdict: (verdict) => verdicts.add(verdict),
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
    const offs = Object.entries(listeners).map(([event, fn]) => target.events.on(event as keyof NodeEventMap, fn as never));

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
      // Callbacks run before the SDK collects its synchronous instruments: the verdict counts gathered
      // since the last collection are handed over first, so every collection sees them all.
      verdicts.flush();
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
      verdicts.flush();
      for (const off of offs) off();
    };
  }
}
