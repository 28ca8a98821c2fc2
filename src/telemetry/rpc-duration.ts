import { AsyncLocalStorage } from 'node:async_hooks';
import { ValueType, type Attributes, type HrTime, type Meter, type Observable } from '@opentelemetry/api';
import { millisToHrTime, type InstrumentationScope } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  InstrumentType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type IMetricReader,
  type MetricCollectOptions,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { RPC_DURATION } from './instruments.js';

// The RPC duration histogram without the SDK's per-call cost (ARCHITECTURE decision 14): the SDK
// hashes a histogram's attribute set on every record(); here each attribute set has an accumulator
// built once (bucket counts, sum, count, min, max), which the caller finds by its own lookup and
// adds to. At collection the accumulators of a meter are reported as one HISTOGRAM metric, shaped
// as the SDK's own explicit-bucket histogram would report it (cumulative, or delta for a reader
// that asks for it: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta).
//
// Which meters a reader reports is the one thing the SDK does not say outright (a Meter does not
// name its MeterProvider): every reader given to withRpcDurations runs the SDK's collection inside
// an AsyncLocalStorage scope, and a batch callback registered on each meter that has a table (the
// SDK runs it for every collection of that meter's provider, and only for those) adds the table
// to the scope. The tables seen are then reported with the SDK's output.

/** Attribute sets kept per table, the overflow set included: the SDK's default cardinality limit. */
export const RPC_DURATION_CARDINALITY_LIMIT = 2000;

/** The attribute set past the cardinality limit (the SDK's name for it). */
const OVERFLOW_ATTRIBUTES: Attributes = { 'otel.metric.overflow': true };

const BOUNDARIES: readonly number[] = RPC_DURATION.boundaries;

/** One attribute set's share of the histogram: what the SDK's explicit-bucket accumulation keeps. */
export class DurationAccumulator {
  /** Count per bucket: `counts[i]` holds values ≤ BOUNDARIES[i] (and > the one before); the last is +Inf. */
  readonly counts = new Float64Array(BOUNDARIES.length + 1);
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    /** The attribute set (shared, never to be modified). */
    readonly attributes: Attributes,
    /** When the accumulator was created: the start of its cumulative data point. */
    readonly startTime: HrTime,
  ) {}

  /** Adds one duration in seconds. Negative and NaN values are dropped, as the SDK histogram drops them. */
  record(seconds: number): void {
    if (!(seconds >= 0)) return;
    this.count += 1;
    this.sum += seconds;
    if (seconds < this.min) this.min = seconds;
    if (seconds > this.max) this.max = seconds;
    // Latencies sit in the low buckets: a scan from the bottom beats a binary search here.
    let i = 0;
    while (i < BOUNDARIES.length && seconds > BOUNDARIES[i]!) i++;
    this.counts[i]! += 1;
  }

  /** The data point of a collection ending at `endTime` (a copy: later records do not change it). */
  dataPoint(endTime: HrTime): DataPoint<Histogram> {
    const seen = this.count > 0;
    return {
      attributes: this.attributes,
      startTime: this.startTime,
      endTime,
      value: {
        buckets: { boundaries: [...BOUNDARIES], counts: Array.from(this.counts) },
        sum: this.sum,
        count: this.count,
        ...(seen ? { min: this.min, max: this.max } : {}),
      },
    };
  }
}

/** The accumulators of one meter: every NodeMetrics on that meter records into the same table. */
export class RpcDurationTable {
  private readonly accumulators: DurationAccumulator[] = [];
  private overflow: DurationAccumulator | undefined;

  constructor(
    /** The instrumentation scope the histogram is reported under. */
    readonly scope: InstrumentationScope,
  ) {}

  /**
   * A new accumulator for an attribute set not seen before (the caller keeps it and finds it again;
   * asking twice for the same set makes two series). Past the cardinality limit: the overflow set's.
   */
  create(attributes: Attributes): DurationAccumulator {
    if (this.accumulators.length >= RPC_DURATION_CARDINALITY_LIMIT - 1) return this.overflowAccumulator();
    const acc = new DurationAccumulator(attributes, now());
    this.accumulators.push(acc);
    return acc;
  }

  /** The accumulator of the overflow attribute set (`otel.metric.overflow`), created on first use. */
  overflowAccumulator(): DurationAccumulator {
    if (!this.overflow) this.accumulators.push((this.overflow = new DurationAccumulator(OVERFLOW_ATTRIBUTES, now())));
    return this.overflow;
  }

  /**
   * The histogram as of `endTime`, or undefined when it has no data point. Cumulative; with `since`
   * (a DELTA reader's last data point of each accumulator, replaced here) what was added since the
   * reader's last collection, without min and max (not known per interval), as the SDK would report
   * a histogram to a DELTA reader; attribute sets with nothing new are left out.
   */
  metricData(endTime: HrTime, since?: Map<DurationAccumulator, DataPoint<Histogram>>): HistogramMetricData | undefined {
    const dataPoints: Array<DataPoint<Histogram>> = [];
    for (const a of this.accumulators) {
      if (a.count === 0) continue;
      const point = a.dataPoint(endTime);
      const previous = since?.get(a);
      since?.set(a, point);
      if (!previous) dataPoints.push(point);
      else if (point.value.count > previous.value.count) dataPoints.push(deltaOf(previous, point));
    }
    if (dataPoints.length === 0) return undefined;
    return {
      descriptor: { name: RPC_DURATION.name, description: RPC_DURATION.description, unit: RPC_DURATION.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: since ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

/** What `current` adds to `previous` (two cumulative data points of one accumulator). */
function deltaOf(previous: DataPoint<Histogram>, current: DataPoint<Histogram>): DataPoint<Histogram> {
  const before = previous.value.buckets.counts;
  return {
    attributes: current.attributes,
    startTime: previous.endTime,
    endTime: current.endTime,
    value: {
      buckets: { boundaries: current.value.buckets.boundaries, counts: current.value.buckets.counts.map((n, i) => n - before[i]!) },
      sum: current.value.sum! - previous.value.sum!,
      count: current.value.count - previous.value.count,
    },
  };
}

function now(): HrTime {
  return millisToHrTime(Date.now());
}

/** The tables of the collection running (in this async context). */
const collecting = new AsyncLocalStorage<Set<RpcDurationTable>>();

const tables = new WeakMap<Meter, RpcDurationTable>();

/**
 * The table of `meter`, created on first use. `anchor` is an observable instrument of that meter:
 * the callback that lets the meter's collections find the table is registered with it, once per
 * meter and never removed, so what was recorded stays reported (as an SDK instrument's would).
 */
export function rpcDurationTable(meter: Meter, anchor: Observable, scope: InstrumentationScope): RpcDurationTable {
  let table = tables.get(meter);
  if (!table) {
    const t = (table = new RpcDurationTable(scope));
    tables.set(meter, t);
    meter.addBatchObservableCallback(() => void collecting.getStore()?.add(t), [anchor]);
  }
  return table;
}

/**
 * The MetricProducer a reader is given in place of the SDK's own: it runs the SDK's collection and
 * adds the RPC duration histogram of every table that collection reached to the result, into the
 * table's scope.
 */
export class RpcDurationProducer implements MetricProducer {
  /** For a DELTA reader: the last data point reported of each accumulator. */
  private readonly reported: Map<DurationAccumulator, DataPoint<Histogram>> | undefined;

  constructor(
    private readonly sdk: MetricProducer,
    temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
  ) {
    this.reported = temporality === AggregationTemporality.DELTA ? new Map() : undefined;
  }

  /** Collects the SDK's metrics and the RPC durations. */
  async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const seen = new Set<RpcDurationTable>();
    const result = await collecting.run(seen, () => this.sdk.collect(options));
    const endTime = now();
    const scopes = result.resourceMetrics.scopeMetrics;
    for (const table of seen) {
      const data = table.metricData(endTime, this.reported);
      if (!data) continue;
      const same = scopes.find((s) => sameScope(s.scope, table.scope));
      if (same) same.metrics.push(data);
      else scopes.push({ scope: table.scope, metrics: [data] });
    }
    return result;
  }
}

function sameScope(a: InstrumentationScope, b: InstrumentationScope): boolean {
  return a.name === b.name && (a.version ?? '') === (b.version ?? '') && (a.schemaUrl ?? '') === (b.schemaUrl ?? '');
}

const wrapped = new WeakSet<IMetricReader>();

/**
 * Makes `reader` report the RPC duration histogram: the MeterProvider's producer it is bound to is
 * wrapped in an RpcDurationProducer, with the temporality the reader selects for histograms. Call
 * before the reader is given to a MeterProvider (a second call changes nothing); returns it.
 */
export function withRpcDurations<R extends IMetricReader>(reader: R): R {
  if (wrapped.has(reader)) return reader;
  wrapped.add(reader);
  const bind = reader.setMetricProducer.bind(reader);
  reader.setMetricProducer = (producer: MetricProducer) =>
    bind(new RpcDurationProducer(producer, reader.selectAggregationTemporality(InstrumentType.HISTOGRAM)));
  return reader;
}
