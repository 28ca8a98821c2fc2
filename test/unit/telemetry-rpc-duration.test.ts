import { strict as assert } from 'node:assert';
import type { Attributes } from '@opentelemetry/api';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
} from '@opentelemetry/sdk-metrics';
import { NodeEvents } from '../../src/app/node-events.js';
import { callRecorderOf } from '../../src/telemetry/bound-recorders.js';
import { LATENCY_BUCKETS_S, RPC_DURATION } from '../../src/telemetry/instruments.js';
import { METRIC, NodeMetrics, type TelemetryTarget } from '../../src/telemetry/metrics.js';
import { RpcDurationTable, withRpcDurations } from '../../src/telemetry/rpc-duration.js';

/** A reader collected by hand. */
class HandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** A node as NodeMetrics reads it, with nothing in it. */
function target(events: NodeEvents): TelemetryTarget {
  return {
    events,
    etcd: { instrument: () => {} },
    cache: { values: () => [] },
    service: { stats: { cacheHits: 0, cacheMisses: 0 } },
    feed: { stalenessMs: () => 0, stats: { relists: 0, reconnects: 0, eventsApplied: 0 } },
    touches: { stats: { coalesced: 0, written: 0, failed: 0 } },
  };
}

/** The RPC duration histogram of a collection, if there is one (asserting there is at most one). */
function rpcHistogram(r: CollectionResult): { scope: string; metric: HistogramMetricData } | undefined {
  const found = r.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.filter((m) => m.descriptor.name === METRIC.rpcDuration).map((m) => ({ scope: s.scope.name, metric: m })));
  assert.ok(found.length <= 1, `${found.length} RPC duration metrics`);
  if (!found[0]) return undefined;
  assert.equal(found[0].metric.dataPointType, DataPointType.HISTOGRAM);
  return found[0] as { scope: string; metric: HistogramMetricData };
}

const key = (a: Attributes) => JSON.stringify(Object.entries(a).sort());

/** The calls recorded: method, code, reason, milliseconds (boundaries, in between, zero, beyond 10 s). */
const CALLS: Array<[string, number, string | undefined, number]> = [
  ['ValidateSession', 0, undefined, 0],
  ['ValidateSession', 0, undefined, 0.5],
  ['ValidateSession', 0, undefined, 0.7],
  ['ValidateSession', 0, undefined, 1],
  ['ValidateSession', 0, undefined, 3],
  ['ValidateSession', 0, undefined, 3],
  ['ValidateSession', 0, undefined, 250],
  ['ValidateSession', 0, undefined, 12_000],
  ['ValidateSession', 5, 'SESSION_NOT_FOUND', 0.2],
  ['ValidateSession', 5, 'SESSION_NOT_FOUND', 10_000],
  ['CreateSession', 0, undefined, 7.5],
  ['CreateSession', 14, 'CACHE_STALE', 40],
  ['CreateSession', 14, 'CACHE_STALE', 0.0001],
  ['EndSession', 13, 'not a reason', 99],
];

/** What a histogram of `ms` values holds: counts per bucket (le semantics), sum, count, min, max. */
function expected(ms: number[]): Histogram {
  const s = ms.map((v) => v / 1000);
  const counts = [...LATENCY_BUCKETS_S, Infinity].map((le, i) => s.filter((v) => v <= le && (i === 0 || v > LATENCY_BUCKETS_S[i - 1]!)).length);
  return {
    buckets: { boundaries: LATENCY_BUCKETS_S, counts },
    sum: s.reduce((a, v) => a + v, 0),
    count: s.length,
    min: Math.min(...s),
    max: Math.max(...s),
  };
}

describe('telemetry: the RPC duration histogram without an SDK instrument (issue 12)', () => {
  let provider: MeterProvider;
  let reader: HandReader;
  let events: NodeEvents;
  let detach: () => void;
  beforeEach(() => {
    reader = withRpcDurations(new HandReader());
    provider = new MeterProvider({ readers: [reader] });
    events = new NodeEvents();
    detach = new NodeMetrics(provider.getMeter('session-manager')).attach(target(events));
  });
  afterEach(async () => {
    detach();
    await provider.shutdown();
  });

  it('reports per (method, code, reason) the bucket counts, sum, count, min and max of the calls', async () => {
    assert.equal(rpcHistogram(await reader.collect()), undefined, 'nothing before the first call');
    for (const [method, code, reason, ms] of CALLS) events.emit('call', method, code, ms, reason);
    const found = rpcHistogram(await reader.collect());
    assert.ok(found);
    assert.equal(found.scope, 'session-manager');
    assert.deepEqual(found.metric.descriptor, { name: RPC_DURATION.name, description: RPC_DURATION.description, unit: 's', valueType: 1 });
    assert.equal(found.metric.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    const groups = new Map<string, { attributes: Attributes; ms: number[] }>();
    for (const [method, code, reason, ms] of CALLS) {
      const attributes: Attributes = { 'rpc.method': method, 'rpc.grpc.status_code': code, ...(code ? { 'error.type': reason === 'not a reason' ? 'other' : reason } : {}) };
      const g = groups.get(key(attributes)) ?? { attributes, ms: [] };
      groups.set(key(attributes), g);
      g.ms.push(ms);
    }
    const points = new Map(found.metric.dataPoints.map((p) => [key(p.attributes), p]));
    assert.deepEqual([...points.keys()].sort(), [...groups.keys()].sort());
    for (const [k, g] of groups) {
      const p = points.get(k)!;
      const want = expected(g.ms);
      assert.deepEqual(p.value.buckets, want.buckets, k);
      assert.equal(p.value.count, want.count, k);
      assert.ok(Math.abs(p.value.sum! - want.sum!) < 1e-12, `${k}: sum ${p.value.sum} ≠ ${want.sum}`);
      assert.deepEqual([p.value.min, p.value.max], [want.min, want.max], k);
    }
    // The ten calls of (ValidateSession, OK), bucket by bucket: 0 and 0.5 ms in le=0.0005, 0.7 and
    // 1 ms in le=0.001, both 3 ms in le=0.005, 250 ms in le=0.25, 12 s in +Inf.
    const ok = points.get(key({ 'rpc.method': 'ValidateSession', 'rpc.grpc.status_code': 0 }))!;
    assert.deepEqual(ok.value.buckets.counts, [2, 2, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
  });

  it('is cumulative across collections, from the time the attribute set was first seen', async () => {
    events.emit('call', 'ValidateSession', 0, 1, undefined);
    const first = rpcHistogram(await reader.collect())!.metric.dataPoints[0]!;
    events.emit('call', 'ValidateSession', 0, 2, undefined);
    const second = rpcHistogram(await reader.collect())!.metric.dataPoints[0]!;
    assert.equal(first.value.count, 1, 'a data point is a copy, not the live accumulator');
    assert.equal(second.value.count, 2);
    assert.deepEqual(second.startTime, first.startTime);
  });

  it('records into the same accumulator for a known attribute set: nothing is created per call', () => {
    const table = new RpcDurationTable({ name: 't' });
    const rec = callRecorderOf(table);
    assert.equal(callRecorderOf(table), rec, 'one recorder per table');
    const acc = rec.accumulator('ValidateSession', 0, undefined);
    const failed = rec.accumulator('ValidateSession', 5, 'SESSION_NOT_FOUND');
    for (let i = 0; i < 1000; i++) {
      rec.record('ValidateSession', 0, i % 7, undefined);
      rec.record('ValidateSession', 5, 1, 'SESSION_NOT_FOUND');
    }
    assert.equal(rec.accumulator('ValidateSession', 0, undefined), acc);
    assert.equal(rec.accumulator('ValidateSession', 5, 'SESSION_NOT_FOUND'), failed);
    assert.equal(acc.count, 1000);
    assert.equal(failed.count, 1000);
    assert.equal(table.metricData([0, 0])!.dataPoints.length, 2, 'two attribute sets, two accumulators');
  });

  it('is the same on the Prometheus endpoint as the SDK histogram it replaces', async () => {
    // The SDK's own histogram, as instruments.ts created it before, fed the same calls.
    const sdkReader = new HandReader();
    const sdkProvider = new MeterProvider({ readers: [sdkReader] });
    const histogram = sdkProvider.getMeter('session-manager').createHistogram(METRIC.rpcDuration, {
      unit: 's',
      description: RPC_DURATION.description,
      advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S },
    });
    const rec = callRecorderOf(new RpcDurationTable({ name: 'x' }));
    for (const [method, code, reason, ms] of CALLS) {
      events.emit('call', method, code, ms, reason);
      histogram.record(ms / 1000, rec.accumulator(method, code, reason).attributes);
    }
    const lines = async (r: HandReader) => {
      const text = new PrometheusSerializer(undefined, false, undefined, true).serialize((await r.collect()).resourceMetrics);
      return text.split('\n').filter((l) => l.includes(METRIC.rpcDuration)).sort();
    };
    const ours = await lines(reader);
    assert.ok(ours.length > 15 * 5, `${ours.length} lines`);
    assert.deepEqual(ours, await lines(sdkReader));
    await sdkProvider.shutdown();
  });

  it('reports to a DELTA reader what each collection adds, as the SDK histogram does', async () => {
    const deltaReader = withRpcDurations(new HandReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA }));
    const deltaProvider = new MeterProvider({ readers: [deltaReader] });
    const deltaEvents = new NodeEvents();
    const off = new NodeMetrics(deltaProvider.getMeter('session-manager')).attach(target(deltaEvents));
    const sdkReader = new HandReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
    const sdkProvider = new MeterProvider({ readers: [sdkReader] });
    const histogram = sdkProvider.getMeter('session-manager').createHistogram('reference', { advice: { explicitBucketBoundaries: LATENCY_BUCKETS_S } });
    const rec = callRecorderOf(new RpcDurationTable({ name: 'x' }));
    const points = async () => {
      const ours = rpcHistogram(await deltaReader.collect())?.metric;
      const sdk = (await sdkReader.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics)[0] as HistogramMetricData | undefined;
      assert.equal(ours?.aggregationTemporality ?? AggregationTemporality.DELTA, AggregationTemporality.DELTA);
      const shape = (ps: Array<DataPoint<Histogram>> = []) =>
        ps.map((p) => [key(p.attributes), p.value.buckets.counts, p.value.count, Math.round(p.value.sum! * 1e9)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      return [shape(ours?.dataPoints), shape(sdk?.dataPoints)];
    };
    for (const [i, slice] of [CALLS.slice(0, 6), CALLS.slice(6), [], CALLS.slice(2, 3)].entries()) {
      for (const [method, code, reason, ms] of slice) {
        deltaEvents.emit('call', method, code, ms, reason);
        histogram.record(ms / 1000, rec.accumulator(method, code, reason).attributes);
      }
      const [ours, sdk] = await points();
      assert.deepEqual(ours, sdk, `collection ${i}`);
      assert.equal(ours!.length > 0, slice.length > 0, `collection ${i}`);
    }
    off();
    await deltaProvider.shutdown();
    await sdkProvider.shutdown();
  });

  it('is reported by the readers of the meter’s provider only, once, and stays after detach', async () => {
    const elsewhere = withRpcDurations(new HandReader());
    const other = new MeterProvider({ readers: [elsewhere] });
    // A second NodeMetrics on the same meter records into the same series.
    const detach2 = new NodeMetrics(provider.getMeter('session-manager')).attach(target(events));
    events.emit('call', 'ValidateSession', 0, 1, undefined);
    detach2();
    detach();
    detach = () => {};
    const found = rpcHistogram(await reader.collect())!;
    assert.equal(found.metric.dataPoints.length, 1);
    assert.equal((found.metric.dataPoints[0] as DataPoint<Histogram>).value.count, 2, 'both listeners, one series');
    assert.equal(rpcHistogram(await elsewhere.collect()), undefined, 'another provider does not see it');
    await other.shutdown();
  });
});
