import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, hostname } from 'node:os';
import { context, diag, metrics, propagation, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPGrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPGrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
  type Resource,
  type ResourceDetector,
} from '@opentelemetry/resources';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { createLogger, diagLevelOf, diagLogger, type Logger } from './log.js';
import { withRpcDurations } from './rpc-duration.js';
import { telemetrySettingsFromEnv, TELEMETRY_DEFAULTS, type TelemetrySettings } from './settings.js';

/**
 * gRPC methods the gRPC instrumentation leaves alone: the health service (probes every few seconds)
 * and etcd's RPCs, whose client spans would repeat the `etcd <op>` spans, or be long-lived roots for
 * the watch and lease keep-alive streams. The instrumentation matches on the method name only.
 */
export const UNTRACED_GRPC_METHODS: ReadonlySet<string> = new Set([
  // grpc.health.v1.Health
  'Check',
  'Watch',
  // etcdserverpb (etcd3's copy of grpc-js is instrumented too)
  'Range', 'Put', 'DeleteRange', 'Txn', 'Compact',
  'LeaseGrant', 'LeaseRevoke', 'LeaseKeepAlive', 'LeaseTimeToLive', 'LeaseLeases',
  'MemberAdd', 'MemberRemove', 'MemberUpdate', 'MemberList', 'MemberPromote',
  'Alarm', 'Status', 'Defragment', 'Hash', 'HashKV', 'Snapshot', 'MoveLeader', 'Downgrade',
  'AuthEnable', 'AuthDisable', 'AuthStatus', 'Authenticate',
  'UserAdd', 'UserGet', 'UserList', 'UserDelete', 'UserChangePassword', 'UserGrantRole', 'UserRevokeRole',
  'RoleAdd', 'RoleGet', 'RoleList', 'RoleDelete', 'RoleGrantPermission', 'RoleRevokePermission',
]);

/** Options of startTelemetry; everything else comes from the OTEL_* environment. */
export interface StartTelemetryOptions {
  /** Default process.env. The SDK itself (sampler, propagators, resource, OTLP endpoints) reads process.env. */
  env?: NodeJS.ProcessEnv;
  /** Replace the span processors the environment asks for (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
  /** Replace the metric readers the environment asks for (tests: an in-memory reader); they report the RPC durations too. */
  metricReaders?: IMetricReader[];
  /** Where telemetry's own problems go. Default: a pino logger with component=telemetry. */
  logger?: Logger;
}

/** The running OpenTelemetry SDK of this process. */
export interface Telemetry {
  readonly settings: TelemetrySettings;
  /** Resolves once the Prometheus endpoint listens (at once when there is none); rejects if it cannot. */
  readonly ready: Promise<void>;
  /** Flushes pending spans and metrics and stops the exporters; waits at most `timeoutMs`. Idempotent. */
  shutdown(timeoutMs?: number): Promise<void>;
}

let active: Telemetry | undefined;

/** The telemetry started by startTelemetry in this process, if any. */
export function activeTelemetry(): Telemetry | undefined {
  return active;
}

function serviceVersion(): string | undefined {
  try {
    // dist/src/telemetry/sdk.js → package.json at the repository (or image) root.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The resource of every span and metric: service.name `session-manager` and the package version,
 * host name and architecture, process id and runtime; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
 * override. Built synchronously (no machine-id lookup) and without the process command line, which
 * the SDK's process detector would publish. OTEL_NODE_RESOURCE_DETECTORS restores the SDK's detection.
 */
export function serviceResource(): Resource {
  const version = serviceVersion();
  return defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: TELEMETRY_DEFAULTS.serviceName,
        ...(version ? { [ATTR_SERVICE_VERSION]: version } : {}),
        'host.name': hostname(),
        'host.arch': arch() === 'x64' ? 'amd64' : arch(),
        'process.pid': process.pid,
        'process.runtime.name': 'nodejs',
        'process.runtime.version': process.versions.node,
      }),
    )
    .merge(detectResources({ detectors: [envDetector] }));
}

const RESOURCE_DETECTORS: Readonly<Record<string, ResourceDetector>> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetector,
  serviceinstance: serviceInstanceIdDetector,
};

/**
 * The resource detectors OTEL_NODE_RESOURCE_DETECTORS names (env, host, os, process, serviceinstance,
 * all, none), as the OpenTelemetry Node SDK reads it; none when it is unset (serviceResource suffices).
 */
export function resourceDetectorsFromEnv(env: NodeJS.ProcessEnv, warnings: string[] = []): ResourceDetector[] {
  const names = (env['OTEL_NODE_RESOURCE_DETECTORS'] ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (names.length === 0 || names.includes('none')) return [];
  if (names.includes('all')) return Object.values(RESOURCE_DETECTORS);
  return names.flatMap((n) => {
    const d = RESOURCE_DETECTORS[n];
    if (!d) warnings.push(`OTEL_NODE_RESOURCE_DETECTORS value ${JSON.stringify(n)} is not supported (${Object.keys(RESOURCE_DETECTORS).join(', ')}, all, none); ignored`);
    return d ? [d] : [];
  });
}

/**
 * The propagator OTEL_PROPAGATORS asks for: `tracecontext` and `baggage` (the default is both);
 * `none` propagates nothing. Others (b3, jaeger) are not built in: warned about and skipped.
 */
export function propagatorFromEnv(env: NodeJS.ProcessEnv, warnings: string[] = []): TextMapPropagator {
  const names = [...new Set((env['OTEL_PROPAGATORS'] ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))];
  const asked = names.length === 0 ? ['tracecontext', 'baggage'] : names.includes('none') ? [] : names;
  const propagators = asked.flatMap((n): TextMapPropagator[] => {
    if (n === 'tracecontext') return [new W3CTraceContextPropagator()];
    if (n === 'baggage') return [new W3CBaggagePropagator()];
    warnings.push(`OTEL_PROPAGATORS value ${JSON.stringify(n)} is not supported (tracecontext, baggage, none); ignored`);
    return [];
  });
  return new CompositePropagator({ propagators });
}

/**
 * Span processors for the settings. The OTLP exporters read their endpoint, headers, timeout and
 * compression from OTEL_EXPORTER_OTLP_*. The gRPC one loads grpc-js only when it first exports, and
 * hookGrpc loads it through the instrumentation hook before that, so either protocol is safe.
 */
function spanProcessorsFor(settings: TelemetrySettings): SpanProcessor[] {
  return settings.traceExporters.map((name) => {
    if (name === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter());
    const exporter = settings.otlpProtocol.traces === 'grpc' ? new OTLPGrpcTraceExporter() : new OTLPTraceExporter();
    return new BatchSpanProcessor(exporter, settings.batch);
  });
}

/**
 * Builds the metric readers the settings ask for: a Prometheus endpoint (listening at once) and/or a
 * periodic OTLP or console exporter, each reporting the RPC duration histogram (rpc-duration.ts).
 * `ready` resolves when the Prometheus endpoint listens.
 */
export function metricReadersFor(settings: TelemetrySettings, log: Logger): { readers: IMetricReader[]; ready: Promise<void> } {
  const listening: Array<Promise<void>> = [];
  const readers = settings.metricExporters.map((name): IMetricReader => {
    if (name === 'prometheus') {
      const { host, port, endpoint } = settings.prometheus;
      let done: (err: Error | void) => void = () => {};
      listening.push(new Promise<void>((resolve, reject) => (done = (err) => (err ? reject(err) : resolve()))));
      return withRpcDurations(new PrometheusExporter({ host, port, endpoint }, (err: Error | void) => {
        if (err) log.error({ err: err.message, host, port }, 'prometheus metrics endpoint could not listen');
        else log.info({ host, port, endpoint }, 'prometheus metrics endpoint listening');
        done(err);
      }));
    }
    const exporter =
      name === 'console' ? new ConsoleMetricExporter() : settings.otlpProtocol.metrics === 'grpc' ? new OTLPGrpcMetricExporter() : new OTLPMetricExporter();
    return withRpcDurations(
      new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: settings.metricExportIntervalMs, exportTimeoutMillis: settings.metricExportTimeoutMs }),
    );
  });
  const ready = Promise.all(listening).then(() => {});
  ready.catch(() => {}); // reported through the log; callers that care await it
  return { readers, ready };
}

/**
 * Loads @grpc/grpc-js through `require`, now that the instrumentation's require hook is installed, so
 * it is patched before any ES module imports it. The hook does not see an `import` of a CommonJS
 * package, and an ES module's named imports are copied when the package is first evaluated: were
 * grpc-js first reached by `import`, the server spans would exist only if some CommonJS module (etcd3)
 * happened to require grpc-js before the server registered its services, and client spans never.
 */
function hookGrpc(log: Logger, traced: boolean): void {
  try {
    const grpc = createRequire(import.meta.url)('@grpc/grpc-js') as { Server?: { prototype?: { register?: { __wrapped?: boolean } } } };
    // Without a span processor the instrumentation is not installed (no server spans are wanted).
    if (traced && !grpc.Server?.prototype?.register?.__wrapped) log.warn('telemetry: @grpc/grpc-js was loaded before the SDK started; RPC server spans will be missing');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'telemetry: cannot load @grpc/grpc-js');
  }
}

/**
 * Starts the OpenTelemetry SDK from the standard OTEL_* environment (docs/observability.md): tracer
 * and meter providers, W3C trace-context propagation, and the gRPC instrumentation. It must run
 * before `@grpc/grpc-js` is first imported, or the server spans silently never appear; main.ts
 * therefore loads it (register.ts) before anything else. Calling it twice returns the first.
 */
export function startTelemetry(options: StartTelemetryOptions = {}): Telemetry {
  if (active) return active;
  const settings = telemetrySettingsFromEnv(options.env ?? process.env);
  const log = options.logger ?? createLogger({ component: 'telemetry' });
  for (const w of settings.warnings) log.warn(`telemetry: ${w}`);
  if (settings.disabled) {
    active = { settings, ready: Promise.resolve(), shutdown: async () => {} };
    log.info('telemetry disabled (OTEL_SDK_DISABLED=true)');
    return active;
  }
  const built = options.metricReaders ? { readers: options.metricReaders.map(withRpcDurations), ready: Promise.resolve() } : metricReadersFor(settings, log);
  const env = options.env ?? process.env;
  // The SDK's diagnostics go through pino (OTEL_LOG_LEVEL), not the console.
  diag.disable();
  diag.setLogger(diagLogger(log), { logLevel: diagLevelOf(env['OTEL_LOG_LEVEL']), suppressOverrideMessage: true });
  // Built from the pieces used (what @opentelemetry/sdk-node would assemble, without its unused
  // exporters and propagators): resource, meter provider, tracer provider with the async-hooks
  // context manager and the sampler and span limits from OTEL_TRACES_SAMPLER / OTEL_SPAN_*, the
  // propagator from OTEL_PROPAGATORS, and the gRPC instrumentation. No OTel log records: logs stay
  // on stdout as JSON (pino) carrying trace ids.
  const warnings: string[] = [];
  const detectors = resourceDetectorsFromEnv(env, warnings);
  const propagator = propagatorFromEnv(env, warnings);
  for (const w of warnings) log.warn(`telemetry: ${w}`);
  let resource = serviceResource();
  if (detectors.length > 0) resource = resource.merge(detectResources({ detectors })).merge(detectResources({ detectors: [envDetector] }));
  const meterProvider = built.readers.length > 0 ? new MeterProvider({ resource, readers: built.readers }) : undefined;
  if (meterProvider) metrics.setGlobalMeterProvider(meterProvider);
  const spanProcessors = options.spanProcessors ?? spanProcessorsFor(settings);
  // Without a span processor no tracer provider is registered (spans stay non-recording, as with
  // sdk-node); the context manager and propagator are installed either way.
  const tracerProvider = spanProcessors.length > 0 ? new NodeTracerProvider({ resource, spanProcessors }) : undefined;
  if (tracerProvider) tracerProvider.register({ propagator });
  else {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(propagator);
  }
  // The gRPC instrumentation makes a span per call, wrapping every handler and callback: without a
  // span processor nothing would record those spans, so it is left out and calls cost no tracing.
  if (tracerProvider) {
    registerInstrumentations({
      instrumentations: [new GrpcInstrumentation({ ignoreGrpcMethods: [(name: string) => UNTRACED_GRPC_METHODS.has(name)] })],
      tracerProvider,
      ...(meterProvider ? { meterProvider } : {}),
    });
  }
  hookGrpc(log, tracerProvider !== undefined);
  const sdk = {
    shutdown: async (): Promise<void> => {
      await Promise.all([tracerProvider?.shutdown(), meterProvider?.shutdown()]);
    },
  };
  let stopping: Promise<void> | undefined;
  active = {
    settings,
    ready: built.ready,
    shutdown(timeoutMs = 5000) {
      stopping ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          log.warn({ timeoutMs }, 'telemetry: flush timed out');
          resolve();
        }, timeoutMs);
        timer.unref();
        sdk.shutdown().then(
          () => (clearTimeout(timer), resolve()),
          (err: Error) => (clearTimeout(timer), log.warn({ err: err.message }, 'telemetry: shutdown failed'), resolve()),
        );
      });
      return stopping;
    },
  };
  log.debug({ traces: settings.traceExporters, metrics: settings.metricExporters }, 'telemetry started');
  return active;
}
