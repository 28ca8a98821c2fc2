/** Trace exporters this service can build. */
export type TraceExporterName = 'otlp' | 'console';
/** Metric exporters this service can build. */
export type MetricExporterName = 'prometheus' | 'otlp' | 'console';

/** OTLP protocols built in. `http/json` is sent as http/protobuf: collectors take both on one port. */
export type OtlpProtocol = 'http/protobuf' | 'grpc';

/** Defaults that differ from the OpenTelemetry SDK's own (documented in docs/observability.md). */
export const TELEMETRY_DEFAULTS = {
  serviceName: 'session-manager',
  /** Metrics go to a Prometheus endpoint unless OTEL_METRICS_EXPORTER says otherwise (the Helm chart scrapes it). */
  metricsExporter: 'prometheus',
  prometheusHost: '0.0.0.0',
  prometheusPort: 9464,
  prometheusEndpoint: '/metrics',
  metricExportIntervalMs: 60_000,
  metricExportTimeoutMs: 30_000,
} as const;

/** What the OTEL_* environment asks for, resolved to this service's defaults. */
export interface TelemetrySettings {
  /** OTEL_SDK_DISABLED=true: no SDK at all (no spans, no metrics endpoint). */
  disabled: boolean;
  traceExporters: TraceExporterName[];
  metricExporters: MetricExporterName[];
  /** OTLP protocol per signal (OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL), default http/protobuf. */
  otlpProtocol: { traces: OtlpProtocol; metrics: OtlpProtocol };
  prometheus: { host: string; port: number; endpoint: string };
  metricExportIntervalMs: number;
  metricExportTimeoutMs: number;
  /** Batch span processor tuning (OTEL_BSP_*); undefined = SDK default. */
  batch: { maxQueueSize?: number; scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxExportBatchSize?: number };
  /** Problems found in the environment, each one sentence; logged at start-up, never fatal. */
  warnings: string[];
}

function list(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  return [...new Set(raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))];
}

function nonNegative(env: NodeJS.ProcessEnv, name: string, warnings: string[]): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    warnings.push(`${name}=${JSON.stringify(raw)} is not a non-negative number; using the default`);
    return undefined;
  }
  return n;
}

/**
 * Resolves the OTEL_* environment into TelemetrySettings. Pure: reads only `env`.
 *
 * Traces: OTEL_TRACES_EXPORTER (otlp, console, none). When it is unset, traces are exported over OTLP
 * only if an OTLP endpoint is configured, so a process without a collector stays quiet.
 * Metrics: OTEL_METRICS_EXPORTER (prometheus, otlp, console, none), default prometheus.
 */
export function telemetrySettingsFromEnv(env: NodeJS.ProcessEnv): TelemetrySettings {
  const warnings: string[] = [];
  const disabled = env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true';

  const endpointSet = !!(env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim());
  const tracesAsked = list(env, 'OTEL_TRACES_EXPORTER') ?? (endpointSet ? ['otlp'] : []);
  const traceExporters: TraceExporterName[] = [];
  if (!tracesAsked.includes('none')) {
    for (const t of tracesAsked) {
      if (t === 'otlp' || t === 'console') traceExporters.push(t);
      else warnings.push(`OTEL_TRACES_EXPORTER value ${JSON.stringify(t)} is not supported (otlp, console, none); ignored`);
    }
  }

  const metricsAsked = list(env, 'OTEL_METRICS_EXPORTER') ?? [TELEMETRY_DEFAULTS.metricsExporter];
  const metricExporters: MetricExporterName[] = [];
  if (!metricsAsked.includes('none')) {
    for (const m of metricsAsked) {
      if (m === 'prometheus' || m === 'otlp' || m === 'console') metricExporters.push(m);
      else warnings.push(`OTEL_METRICS_EXPORTER value ${JSON.stringify(m)} is not supported (prometheus, otlp, console, none); ignored`);
    }
  }

  const protocol = (signal: 'TRACES' | 'METRICS', used: boolean): OtlpProtocol => {
    const p = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`]?.trim() || env['OTEL_EXPORTER_OTLP_PROTOCOL']?.trim())?.toLowerCase();
    if (p === 'grpc') return 'grpc';
    if (!p || p === 'http/protobuf') return 'http/protobuf';
    if (used && p !== 'http/json') warnings.push(`OTLP protocol ${JSON.stringify(p)} for ${signal.toLowerCase()} is not supported (http/protobuf, grpc); using http/protobuf`);
    return 'http/protobuf';
  };
  const otlpProtocol = { traces: protocol('TRACES', traceExporters.includes('otlp')), metrics: protocol('METRICS', metricExporters.includes('otlp')) };

  const host = env['OTEL_EXPORTER_PROMETHEUS_HOST']?.trim() || TELEMETRY_DEFAULTS.prometheusHost;
  let port: number = TELEMETRY_DEFAULTS.prometheusPort;
  const rawPort = env['OTEL_EXPORTER_PROMETHEUS_PORT']?.trim();
  if (rawPort) {
    const n = Number(rawPort);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) port = n;
    else warnings.push(`OTEL_EXPORTER_PROMETHEUS_PORT=${JSON.stringify(rawPort)} is not a port; using ${port}`);
  }

  const interval = nonNegative(env, 'OTEL_METRIC_EXPORT_INTERVAL', warnings) || TELEMETRY_DEFAULTS.metricExportIntervalMs;
  let timeout = nonNegative(env, 'OTEL_METRIC_EXPORT_TIMEOUT', warnings) || TELEMETRY_DEFAULTS.metricExportTimeoutMs;
  if (timeout > interval) timeout = interval;

  const batch: TelemetrySettings['batch'] = {};
  const bsp = (name: string, key: keyof TelemetrySettings['batch']) => {
    const v = nonNegative(env, name, warnings);
    if (v !== undefined) batch[key] = v;
  };
  bsp('OTEL_BSP_MAX_QUEUE_SIZE', 'maxQueueSize');
  bsp('OTEL_BSP_SCHEDULE_DELAY', 'scheduledDelayMillis');
  bsp('OTEL_BSP_EXPORT_TIMEOUT', 'exportTimeoutMillis');
  bsp('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'maxExportBatchSize');

  return {
    disabled,
    traceExporters,
    metricExporters,
    otlpProtocol,
    prometheus: { host, port, endpoint: TELEMETRY_DEFAULTS.prometheusEndpoint },
    metricExportIntervalMs: interval,
    metricExportTimeoutMs: timeout,
    batch,
    warnings,
  };
}
