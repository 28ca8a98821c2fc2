import { context, DiagLogLevel, isSpanContextValid, trace, type DiagLogger } from '@opentelemetry/api';
import { pino, destination, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

/**
 * Field paths pino replaces with "[REDACTED]" wherever they appear (top level or one level down):
 * credentials, and session ids, which must never reach a log (SPEC rule 13).
 */
export const REDACTED_PATHS: readonly string[] = ['password', 'etcdPassword', 'token', 'authorization', 'sessionId', 'session_id']
  .flatMap((k) => [k, `*.${k}`]);

/**
 * The trace context of the span active when a line is written, as pino fields (`trace_id`,
 * `span_id`, `trace_flags`: the OpenTelemetry log data model names); empty outside a span.
 */
export function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2) };
}

/**
 * Creates the process logger: JSON lines on stdout, level from SM_LOG_LEVEL (default info), and
 * the active span's trace_id/span_id on every line written inside a request or a traced cycle.
 */
export function createLogger(options: { level?: string; nodeId?: string; component?: string; destination?: DestinationStream } = {}): Logger {
  const level = options.level ?? process.env['SM_LOG_LEVEL'] ?? 'info';
  return pino(
    {
      level,
      base: { node: options.nodeId, ...(options.component ? { component: options.component } : {}) },
      timestamp: stdTimeFunctions.isoTime,
      mixin: traceFields,
      redact: { paths: [...REDACTED_PATHS], censor: '[REDACTED]' },
    },
    options.destination ?? destination({ sync: false }),
  );
}

/** OTEL_LOG_LEVEL names, as the SDK reads them. */
const DIAG_LEVELS: Record<string, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** The OpenTelemetry diagnostic level from OTEL_LOG_LEVEL; default warn (export failures are worth a line). */
export function diagLevelOf(value: string | undefined): DiagLogLevel {
  return DIAG_LEVELS[value?.trim().toLowerCase() ?? ''] ?? DiagLogLevel.WARN;
}

/**
 * Routes the OpenTelemetry SDK's own diagnostics (export failures and the like) into pino, repeating
 * an identical message at most once per `repeatMs`, so a missing collector cannot flood the log.
 */
export function diagLogger(log: Logger, repeatMs = 60_000): DiagLogger {
  const last = new Map<string, number>();
  const emit = (lvl: 'error' | 'warn' | 'info' | 'debug' | 'trace') => (message: string, ...args: unknown[]) => {
    const now = Date.now();
    const seen = last.get(message);
    if (seen !== undefined && now - seen < repeatMs) return;
    if (last.size > 1000) last.clear();
    last.set(message, now);
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : safeJson(a))).join(' ');
    log[lvl](detail ? { otel: detail } : {}, `opentelemetry: ${message}`);
  };
  return { error: emit('error'), warn: emit('warn'), info: emit('info'), debug: emit('debug'), verbose: emit('trace') };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 500) ?? String(v);
  } catch {
    return String(v);
  }
}

export type { Logger };
