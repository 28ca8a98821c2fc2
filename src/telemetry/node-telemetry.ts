import { metrics, trace, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import type { NodeEventMap } from '../app/node-events.js';
import { errorLabel } from './labels.js';
import type { Logger } from './log.js';
import { NodeMetrics, type NodeMetricsOptions, type TelemetryTarget } from './metrics.js';
import { annotateActiveSpan, ATTR, etcdInstrumentation, INSTRUMENTATION_SCOPE, recordMoment, recordScavengeCycle, SPAN } from './tracing.js';

/** Options of attachTelemetry. */
export interface AttachTelemetryOptions extends NodeMetricsOptions {
  /** Default: the global meter provider's `session-manager` meter. */
  meter?: Meter;
  /** Default: the global tracer provider's `session-manager` tracer. */
  tracer?: Tracer;
  /** Where the per-RPC access line goes (debug level; warn for INTERNAL, UNKNOWN and DATA_LOSS). */
  logger?: Logger;
  /** Trace etcd requests made outside any traced operation as root spans. Default false. */
  etcdRootSpans?: boolean;
}

/** A node's telemetry wiring; detach() undoes it (tests attach and detach several nodes). */
export interface NodeTelemetry {
  readonly metrics: NodeMetrics;
  detach(): void;
}

/** gRPC codes that mean a bug or lost data rather than a caller's mistake: logged at warn. */
const SERVER_FAULT_CODES = new Set([2, 13, 15]);

/**
 * Wires one node into OpenTelemetry: a child span per etcd request (EtcdGateway.instrument), the
 * `session_manager_*` metrics, verdict/site/reason annotations on the RPC server span, short spans
 * for leadership changes, config reloads and lost leases or watches, and a retroactive span per
 * scavenger cycle (unless the scavenger runs inside traceScavengeCycle). Call it right after
 * constructing the node, before start(). Nothing recorded carries a session id.
 */
export function attachTelemetry(node: TelemetryTarget, options: AttachTelemetryOptions = {}): NodeTelemetry {
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_SCOPE);
  const meter = options.meter ?? metrics.getMeter(INSTRUMENTATION_SCOPE);
  const log = options.logger;
  node.etcd.instrument(etcdInstrumentation({ tracer, rootSpans: options.etcdRootSpans ?? false }));
  const nodeMetrics = new NodeMetrics(meter, options);
  const detachMetrics = nodeMetrics.attach(node);

  const verdictAttrs: Partial<Record<string, Attributes>> = {};
  const listeners: { [K in keyof NodeEventMap]?: (...args: NodeEventMap[K]) => void } = {
    call: (method, code, ms, reason) => {
      if (code !== 0 && reason) annotateActiveSpan({ [ATTR.errorReason]: reason });
      if (!log) return;
      // The access line is debug: build nothing for it unless debug is on (server faults always log).
      if (!SERVER_FAULT_CODES.has(code) && !log.isLevelEnabled('debug')) return;
      const fields = { rpc: method, code, ms: Math.round(ms * 10) / 10, ...(reason ? { reason } : {}) };
      if (SERVER_FAULT_CODES.has(code)) log.warn(fields, 'rpc failed');
      else log.debug(fields, 'rpc');
    },
    // Checked before anything is built: with no recording span (no trace exporter, not sampled) a
    // verdict costs a context lookup; the attribute set of each verdict is built once.
    verdict: (verdict) => {
      const span = trace.getActiveSpan();
      if (span?.isRecording()) span.setAttributes((verdictAttrs[verdict] ??= { [ATTR.verdict]: verdict }));
    },
    'session-created': (site, clientType) => annotateActiveSpan({ [ATTR.site]: site, [ATTR.clientType]: clientType }),
    'session-ended': (site, clientType, reason) => {
      const span = trace.getActiveSpan();
      if (span?.isRecording()) span.addEvent('session.ended', { [ATTR.site]: site, [ATTR.clientType]: clientType, [ATTR.endReason]: reason });
    },
    'scavenge-cycle': (report) => recordScavengeCycle(report, tracer),
    leadership: (leader) => recordMoment(SPAN.leadership, { [ATTR.leader]: leader }, { tracer }),
    'config-applied': (version) => recordMoment(SPAN.configApplied, { [ATTR.configVersion]: version }, { tracer }),
    'config-rejected': (problems) =>
      recordMoment(
        SPAN.configRejected,
        { [ATTR.problemCount]: problems.length },
        {
          tracer,
          error: { type: 'CONFIG_INVALID', message: `${problems.length} invalid setting(s); the last good configuration stays in force` },
          events: [{ name: 'config.problems', attributes: { [ATTR.problems]: problems.slice(0, 20).map((p) => p.slice(0, 200)) } }],
        },
      ),
    'node-lease-lost': () => recordMoment(SPAN.nodeLeaseLost, {}, { tracer, error: { type: 'NODE_LEASE_LOST' } }),
    'watch-lost': (err) => recordMoment(SPAN.watchLost, {}, { tracer, error: { type: errorLabel(err), message: err.message } }),
  };
  const offs = Object.entries(listeners).map(([event, fn]) => node.events.on(event as keyof NodeEventMap, fn as never));

  let attached = true;
  return {
    metrics: nodeMetrics,
    detach() {
      if (!attached) return;
      attached = false;
      for (const off of offs) off();
      detachMetrics();
      node.etcd.instrument((_op, _keyClass, run) => run());
    },
  };
}
