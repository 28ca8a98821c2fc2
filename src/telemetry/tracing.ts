import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { ScavengeReport } from '../app/node-events.js';
import type { EtcdInstrumentation } from '../store/etcd/client.js';
import { errorLabel, keyClassLabel, opLabel } from './labels.js';

/** Instrumentation scope of every span and metric this service makes itself. */
export const INSTRUMENTATION_SCOPE = 'session-manager';

/** Names of the spans this service makes itself (the RPC server spans come from instrumentation-grpc). */
export const SPAN = {
  /** Prefix of an etcd request span: `etcd range`, `etcd txn`, … */
  etcdPrefix: 'etcd ',
  scavengeCycle: 'scavenge.cycle',
  leadership: 'scavenger.leadership',
  configApplied: 'config.applied',
  configRejected: 'config.rejected',
  nodeLeaseLost: 'node_lease.lost',
  watchLost: 'watch.lost',
} as const;

/** Attribute keys of this service's own spans (OpenTelemetry semantic conventions where one exists). */
export const ATTR = {
  dbSystem: 'db.system',
  dbSystemName: 'db.system.name',
  dbOperation: 'db.operation.name',
  errorType: 'error.type',
  keyClass: 'session_manager.etcd.key_class',
  verdict: 'session_manager.verdict',
  site: 'session_manager.site',
  clientType: 'session_manager.client_type',
  endReason: 'session_manager.end_reason',
  errorReason: 'session_manager.error_reason',
  scanned: 'session_manager.scavenge.scanned',
  ended: 'session_manager.scavenge.ended',
  endedPrefix: 'session_manager.scavenge.ended.',
  fencedOut: 'session_manager.scavenge.fenced_out',
  lagMs: 'session_manager.scavenge.lag_ms',
  retroactive: 'session_manager.scavenge.retroactive',
  leader: 'session_manager.leader',
  configVersion: 'session_manager.config.version',
  problemCount: 'session_manager.config.problem_count',
  problems: 'session_manager.config.problems',
} as const;

/** This service's tracer from the global provider (a no-op until the SDK is started). */
export function defaultTracer(): Tracer {
  return trace.getTracer(INSTRUMENTATION_SCOPE);
}

/** Options of etcdInstrumentation. */
export interface EtcdTracingOptions {
  tracer?: Tracer;
  /**
   * Also trace etcd requests made outside any traced operation (watch relists, late write-behind
   * touches) as root spans. Default false: they are counted by the metrics only.
   */
  rootSpans?: boolean;
}

/**
 * An EtcdGateway instrumentation that runs each etcd request in a CLIENT span `etcd <op>` with
 * `db.system=etcd`, `db.operation.name` and the key class (never a key). The gRPC client span the
 * etcd3 library would add underneath is suppressed: it would repeat this one.
 */
export function etcdInstrumentation(options: EtcdTracingOptions = {}): EtcdInstrumentation {
  const tracer = options.tracer ?? defaultTracer();
  return <T>(op: string, keyClass: string, run: () => Promise<T>): Promise<T> => {
    const parent = context.active();
    if (!options.rootSpans && !trace.getSpan(parent)?.isRecording()) return run();
    const operation = opLabel(op);
    const span = tracer.startSpan(
      `${SPAN.etcdPrefix}${operation}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR.dbSystem]: 'etcd',
          [ATTR.dbSystemName]: 'etcd',
          [ATTR.dbOperation]: operation,
          [ATTR.keyClass]: keyClassLabel(keyClass),
        },
      },
      parent,
    );
    let p: Promise<T>;
    try {
      p = context.with(suppressTracing(trace.setSpan(parent, span)), run);
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (r) => {
        span.end();
        return r;
      },
      (err: unknown) => {
        span.setAttribute(ATTR.errorType, errorLabel(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 300) : undefined });
        span.end();
        throw err;
      },
    );
  };
}

const scavengeSpans = new WeakSet<Span>();

/**
 * Runs one scavenger cycle inside its own root span `scavenge.cycle`, so the cycle's etcd requests
 * become its children. Emit the cycle's `scavenge-cycle` event inside `fn`: the report's counts are
 * then written onto this span instead of a separate, retroactive one.
 */
export function traceScavengeCycle<T>(fn: (span: Span) => Promise<T>, tracer: Tracer = defaultTracer()): Promise<T> {
  return tracer.startActiveSpan(SPAN.scavengeCycle, { root: true, kind: SpanKind.INTERNAL }, async (span) => {
    scavengeSpans.add(span);
    try {
      return await fn(span);
    } catch (err) {
      span.setAttribute(ATTR.errorType, errorLabel(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message.slice(0, 300) : undefined });
      throw err;
    } finally {
      span.end();
    }
  });
}

function reportAttributes(report: ScavengeReport): Attributes {
  const attrs: Attributes = {
    [ATTR.scanned]: report.scanned,
    [ATTR.fencedOut]: report.fencedOut,
    [ATTR.lagMs]: Math.round(report.lagMs),
  };
  let total = 0;
  for (const [reason, n] of Object.entries(report.ended)) {
    if (!n) continue;
    attrs[`${ATTR.endedPrefix}${reason}`] = n;
    total += n;
  }
  attrs[ATTR.ended] = total;
  return attrs;
}

/**
 * Records a finished scavenger cycle: on the active `scavenge.cycle` span when the scavenger runs
 * inside traceScavengeCycle, else as a root span of its own, back-dated to the cycle's start.
 */
export function recordScavengeCycle(report: ScavengeReport, tracer: Tracer = defaultTracer()): void {
  const active = trace.getActiveSpan();
  if (active && scavengeSpans.has(active) && active.isRecording()) {
    active.setAttributes(reportAttributes(report));
    return;
  }
  const end = Date.now();
  const span = tracer.startSpan(SPAN.scavengeCycle, {
    root: true,
    kind: SpanKind.INTERNAL,
    startTime: end - Math.max(0, report.durationMs),
    attributes: { ...reportAttributes(report), [ATTR.retroactive]: true },
  });
  span.end(end);
}

/** Options of recordMoment. */
export interface MomentOptions {
  /** Marks the span failed with this error type and message. */
  error?: { type: string; message?: string };
  /** Span events to add. */
  events?: Array<{ name: string; attributes?: Attributes }>;
  tracer?: Tracer;
}

/** Records a moment (leadership change, config reload, lost lease or watch) as a short root span. */
export function recordMoment(name: string, attributes: Attributes, options: MomentOptions = {}): void {
  const span = (options.tracer ?? defaultTracer()).startSpan(name, { root: true, kind: SpanKind.INTERNAL, attributes });
  for (const e of options.events ?? []) span.addEvent(e.name, e.attributes);
  if (options.error) {
    span.setAttribute(ATTR.errorType, options.error.type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: options.error.message?.slice(0, 300) });
  }
  span.end();
}

/** Sets attributes on the span of the request being served, if one is recording. */
export function annotateActiveSpan(attributes: Attributes): void {
  const span = trace.getActiveSpan();
  if (span?.isRecording()) span.setAttributes(attributes);
}
