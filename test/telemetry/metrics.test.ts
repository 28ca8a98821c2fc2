import { metricReader } from './setup.js';
import assert from 'node:assert/strict';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { pino } from 'pino';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { METRIC } from '../../src/telemetry/metrics.js';
import { attachTelemetry, type NodeTelemetry } from '../../src/telemetry/node-telemetry.js';
import { metricReadersFor } from '../../src/telemetry/sdk.js';
import { telemetrySettingsFromEnv } from '../../src/telemetry/settings.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { OffsetClock } from '../support/fake-clock.js';
import { configOf, startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { freePort } from '../support/ports.js';
import { parseExposition, promtoolCheck, value, type Sample } from './prom.js';

const total = (name: string) => `${name}_total`;

describe('telemetry: metrics on the Prometheus endpoint', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  let provider: MeterProvider;
  let wiring: NodeTelemetry;
  let url: string;
  // Single-request rule off: each validate goes through the touch writer (with it on, a session's
  // first two hits are compare-and-swapped directly, not touches).
  const config = configOf('session.timeout.single-request=0');
  const clock = new OffsetClock();
  const ids: string[] = [];
  /** The node's own counters, read right after the scrape. */
  let statsAtScrape: { hits: number; misses: number; coalesced: number; written: number };
  let overflowId = '';
  let exposition = '';
  let scraped: Sample[] = [];

  const fetchExposition = async (): Promise<string> => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    return res.text();
  };

  before(async () => {
    etcd = await EtcdCluster.start();
    const port = await freePort();
    // The production reader factory, configured the way the Helm chart's environment would.
    const settings = telemetrySettingsFromEnv({ OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1', OTEL_EXPORTER_PROMETHEUS_PORT: String(port) });
    assert.deepEqual(settings.metricExporters, ['prometheus'], 'prometheus is the default metrics exporter');
    const { readers, ready } = metricReadersFor(settings, pino({ level: 'silent' }));
    provider = new MeterProvider({ readers });
    await ready;
    url = `http://127.0.0.1:${port}/metrics`;
    n = await startNode({ endpoints: etcd.endpoints, config, clock, nodeId: 'metrics' });
    wiring = attachTelemetry(n.node, { meter: provider.getMeter('session-manager'), config, siteLimit: 1 });

    // The workload: 10 logins, 3 logouts, 10 validates (7 valid, 3 of ended sessions), one failed
    // logout, one login on a second site (past the site label limit of 1).
    for (let i = 0; i < 10; i++) {
      const r = await n.api.create({ site: 'metrics', user: `u${i}`, clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
      ids.push(r.sessionId);
    }
    for (const sessionId of ids.slice(0, 3)) await n.api.end({ sessionId });
    for (const sessionId of ids) await n.api.validate({ sessionId });
    assert.equal((await failure(n.api.end({ sessionId: ids[0]! }))).code, 5);
    overflowId = (await n.api.create({ site: 'overflow', user: 'o', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd', attributes: {} })).sessionId;
    // Events nothing in this test can provoke for real (a rejected live reload, a lost node lease or watch).
    n.node.events.emit('config-rejected', ['session.bogus: unknown key']);
    n.node.events.emit('node-lease-lost');
    n.node.events.emit('watch-lost', new Error('watch stream ended'));
    exposition = await fetchExposition();
    scraped = parseExposition(exposition);
    const st = n.node.service.stats;
    const t = n.node.touches.stats;
    statsAtScrape = { hits: st.cacheHits, misses: st.cacheMisses, coalesced: t.coalesced, written: t.written };
  });
  after(async () => {
    wiring?.detach();
    await n?.stop();
    await provider?.shutdown();
    await etcd?.stop();
  });

  it('counts sessions created and ended, by site, client type and reason', () => {
    assert.equal(value(scraped, total(METRIC.sessionsCreated), { site: 'metrics', client_type: 'web' }), 10);
    assert.equal(value(scraped, total(METRIC.sessionsEnded), { site: 'metrics', client_type: 'web', reason: 'LOGGED_OUT' }), 3);
  });

  it('caps the site label: sites past the limit are reported as "other"', () => {
    assert.equal(value(scraped, total(METRIC.sessionsCreated), { site: 'other', client_type: 'mobile' }), 1);
    assert.equal(value(scraped, total(METRIC.sessionsCreated), { site: 'overflow' }), undefined);
  });

  // Ends one more session and scrapes afresh; `scraped` stays the snapshot taken after the workload.
  it('gauges live sessions by site and client type, reporting 0 when a group empties', async () => {
    assert.equal(value(scraped, METRIC.sessionsLive, { site: 'metrics', client_type: 'web' }), 7);
    assert.equal(value(scraped, METRIC.sessionsLive, { site: 'other', client_type: 'mobile' }), 1);
    await n.api.end({ sessionId: overflowId });
    await eventually(async () => value(parseExposition(await fetchExposition()), METRIC.sessionsLive, { site: 'other', client_type: 'mobile' }) === 0, { what: 'other → 0' });
  });

  it('counts validate verdicts', () => {
    assert.equal(value(scraped, total(METRIC.verdicts), { verdict: 'VALID' }), 7);
    assert.equal(value(scraped, total(METRIC.verdicts), { verdict: 'NOT_FOUND' }), 3);
  });

  it('records RPC durations by method and gRPC status code, with the error reason on failures', () => {
    const count = `${METRIC.rpcDuration}_count`;
    assert.equal(value(scraped, count, { rpc_method: 'CreateSession', rpc_grpc_status_code: '0' }), 11);
    assert.equal(value(scraped, count, { rpc_method: 'ValidateSession', rpc_grpc_status_code: '0' }), 10);
    assert.equal(value(scraped, count, { rpc_method: 'EndSession', rpc_grpc_status_code: '0' }), 3);
    assert.equal(value(scraped, count, { rpc_method: 'EndSession', rpc_grpc_status_code: '5', error_type: 'SESSION_NOT_FOUND' }), 1);
    const inf = value(scraped, `${METRIC.rpcDuration}_bucket`, { rpc_method: 'CreateSession', rpc_grpc_status_code: '0', le: '+Inf' });
    assert.equal(inf, 11);
    assert.ok(value(scraped, `${METRIC.rpcDuration}_sum`, { rpc_method: 'CreateSession', rpc_grpc_status_code: '0' })! < 11 * 5, 'seconds, not ms');
  });

  it('reports cache hits and misses, staleness, and touches as the node counted them', () => {
    const st = statsAtScrape;
    assert.equal(value(scraped, total(METRIC.cacheLookups), { result: 'hit' }), st.hits);
    assert.equal(value(scraped, total(METRIC.cacheLookups), { result: 'miss' }), st.misses);
    assert.ok(st.hits + st.misses >= 10);
    const stale = value(scraped, METRIC.cacheStaleness);
    assert.ok(stale !== undefined && stale >= 0 && stale < 5, `staleness ${stale}`);
    assert.equal(value(scraped, total(METRIC.touches), { result: 'coalesced' }), st.coalesced);
    assert.equal(value(scraped, total(METRIC.touches), { result: 'written' }), st.written);
    assert.ok(st.coalesced + st.written >= 7, 'the valid validates touched their sessions');
  });

  it('records etcd request durations by operation and key class, and no errors', () => {
    const txns = scraped.filter((s) => s.name === `${METRIC.etcdDuration}_count` && s.labels['db_operation_name'] === 'txn');
    assert.ok(txns.reduce((a, s) => a + s.value, 0) >= 14, 'a txn per login and logout');
    assert.ok(txns.every((s) => /^[a-z_]+$/.test(s.labels['key_class'] ?? '')), 'key classes are names, never keys');
    assert.equal(scraped.filter((s) => s.name === total(METRIC.etcdErrors)).length, 0);
  });

  it('reports config, node lease and watch', () => {
    assert.equal(value(scraped, METRIC.configInfo, { version: config.current().version }), 1);
    assert.equal(value(scraped, total(METRIC.configReloadFailures)), 1);
    assert.equal(value(scraped, total(METRIC.nodeLeaseLosses)), 1);
    assert.equal(value(scraped, total(METRIC.watchLosses)), 1);
    assert.ok(value(scraped, total(METRIC.watchRelists))! >= 1, 'the initial list counts');
  });

  it('names every metric session_manager_* (besides target_info) and never labels one with a session id', () => {
    for (const s of scraped) {
      assert.ok(s.name === 'target_info' || s.name.startsWith('session_manager_'), s.name);
    }
    for (const id of ids) assert.ok(!exposition.includes(id), 'a session id in the exposition');
  });

  it('passes promtool check metrics', function () {
    const r = promtoolCheck(exposition);
    if (r.missing) assert.fail('promtool not found: install the Debian package "prometheus" (make system-deps)');
    assert.equal(r.output, '', r.output);
    assert.equal(r.status, 0);
  });

  it('with the default meter, the metrics reach the global meter provider', async () => {
    const other = await startNode({ endpoints: etcd.endpoints, nodeId: 'metrics-global' });
    const t = attachTelemetry(other.node);
    try {
      await other.api.validate({ sessionId: ids[5]! }).then((r) => assert.equal(r.verdict, Verdict.VERDICT_VALID));
      const { resourceMetrics } = await metricReader.collect();
      const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name));
      assert.ok(names.includes(METRIC.rpcDuration), names.join(' '));
      assert.ok(names.includes(METRIC.sessionsLive));
      const service = resourceMetrics.resource.attributes['service.name'];
      assert.ok(service === 'session-manager' || !!process.env['OTEL_SERVICE_NAME'], `service.name ${String(service)}`);
    } finally {
      t.detach();
      await other.stop();
    }
  });

  // Last: it moves the node's clock past every idle timeout.
  it('reports leadership and a real scavenger cycle: duration, lag, scanned and ended by reason', async () => {
    const leading: Sample[] = await eventually(async () => {
      const now = parseExposition(await fetchExposition());
      return value(now, METRIC.leader) === 1 && (value(now, `${METRIC.scavengeDuration}_count`) ?? 0) >= 1 ? now : undefined;
    }, { what: 'elected, first cycle done' });
    const count0 = value(leading, `${METRIC.scavengeDuration}_count`)!;
    const scanned0 = value(leading, total(METRIC.scavengeScanned)) ?? 0;
    const ended0 = (reason: string) => value(leading, total(METRIC.scavengeEnded), { reason }) ?? 0;
    clock.advance(61 * 60_000); // past every timeout of the 7 live web sessions
    const report = await n.node.scavenger.cycle();
    assert.ok(report, 'the cycle ran');
    const reasons = Object.entries(report.ended).filter(([, k]) => k);
    assert.equal(reasons.reduce((a, [, k]) => a + k, 0), 7, `the 7 live sessions ended: ${JSON.stringify(report.ended)}`);
    const afterText = await fetchExposition();
    const after = parseExposition(afterText);
    assert.equal(value(after, `${METRIC.scavengeDuration}_count`), count0 + 1);
    assert.equal(value(after, total(METRIC.scavengeScanned)), scanned0 + report.scanned);
    for (const [reason, k] of reasons) {
      assert.equal(value(after, total(METRIC.scavengeEnded), { reason }), ended0(reason) + k);
      assert.equal(value(after, total(METRIC.sessionsEnded), { site: 'metrics', client_type: 'web', reason }), k);
    }
    assert.equal(value(after, METRIC.sessionsLive, { site: 'metrics', client_type: 'web' }), 0);
    assert.equal(value(after, METRIC.scavengeLag), report.lagMs / 1000);
    assert.ok(Math.abs(value(after, METRIC.scavengeLastCycle)! - Date.now() / 1000) < 60);
    assert.equal(promtoolCheck(afterText).status, 0);
  });
});
