import { spans } from './setup.js';
import assert from 'node:assert/strict';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { hashSessionId } from '../../src/app/ids.js';
import { hashLoginToken } from '../../src/app/login-tokens.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { AdminServiceService } from '../../src/gen/sessionmanager/v1/admin_service.js';
import { SessionServiceService, Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { UNTRACED_GRPC_METHODS } from '../../src/telemetry/sdk.js';
import { attachTelemetry, type NodeTelemetry } from '../../src/telemetry/node-telemetry.js';
import { ATTR, SPAN, traceScavengeCycle } from '../../src/telemetry/tracing.js';
import { EtcdCluster } from '../support/etcd.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { callerContext, createAs, spansOf, spanStrings, validateAs, waitForSpan } from './trace-helpers.js';

const VALIDATE_SPAN = 'grpc.sessionmanager.v1.SessionService/ValidateSession';
const CREATE_SPAN = 'grpc.sessionmanager.v1.SessionService/CreateSession';

const login = (n: TestNode, user: string) =>
  n.api.create({ site: 'tracing', user, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd1', attributes: {} });

describe('telemetry: traces', function () {
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  const attached: NodeTelemetry[] = [];
  /** Every span seen by this suite, for the "no session id anywhere" check. */
  const seen: ReadableSpan[] = [];
  /** Every session id this suite created. */
  const ids: string[] = [];

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'trace-a' });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'trace-b' });
    attached.push(attachTelemetry(a.node), attachTelemetry(b.node));
  });
  after(async () => {
    for (const t of attached) t.detach();
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });
  beforeEach(() => spans.reset());
  afterEach(() => void seen.push(...spans.getFinishedSpans()));

  it('a validate with a caller trace context gets a server span that is the caller’s child, with RPC attributes and status', async () => {
    const { sessionId } = await login(a, 'alice');
    ids.push(sessionId);
    const caller = callerContext();
    const r = await validateAs(a.api, caller, sessionId);
    assert.equal(r.verdict, Verdict.VERDICT_VALID);
    const server = await waitForSpan((s) => s.spanContext().traceId === caller.traceId && s.kind === SpanKind.SERVER, 'server span');
    assert.equal(server.name, VALIDATE_SPAN);
    assert.equal(server.parentSpanContext?.spanId, caller.spanId, 'parent is the caller’s span');
    assert.equal(server.parentSpanContext?.isRemote, true);
    assert.equal(server.attributes['rpc.system'], 'grpc');
    assert.equal(server.attributes['rpc.service'], 'sessionmanager.v1.SessionService');
    assert.equal(server.attributes['rpc.method'], 'ValidateSession');
    assert.equal(server.attributes['rpc.grpc.status_code'], 0);
    assert.equal(server.attributes[ATTR.verdict], 'VALID');
    assert.notEqual(server.status.code, SpanStatusCode.ERROR);
  });

  it('a failed call’s server span carries the gRPC status and the ErrorInfo reason', async () => {
    const caller = callerContext();
    const f = await failure(validateAs(a.api, caller, 'not-a-session-id'));
    assert.equal(f.code, 3);
    const server = await waitForSpan((s) => s.spanContext().traceId === caller.traceId && s.kind === SpanKind.SERVER, 'server span');
    assert.equal(server.attributes['rpc.grpc.status_code'], 3);
    assert.equal(server.status.code, SpanStatusCode.ERROR);
    assert.equal(server.attributes[ATTR.errorReason], 'MALFORMED_SESSION_ID');
  });

  it('a create has etcd child spans under its server span, with site and client type on the server span', async () => {
    const caller = callerContext();
    const { sessionId } = await createAs(a.api, caller, {
      site: 'tracing',
      user: 'carol',
      clientType: ClientType.CLIENT_TYPE_MOBILE,
      deviceId: 'd1',
      attributes: {},
    });
    ids.push(sessionId);
    const server = await waitForSpan((s) => s.spanContext().traceId === caller.traceId && s.name === CREATE_SPAN, 'create span');
    assert.equal(server.attributes[ATTR.site], 'tracing');
    assert.equal(server.attributes[ATTR.clientType], 'mobile');
    const etcdSpans = spansOf(caller.traceId).filter((s) => s.name.startsWith(SPAN.etcdPrefix));
    assert.ok(etcdSpans.some((s) => s.attributes['db.operation.name'] === 'txn'), `a txn span: ${etcdSpans.map((s) => s.name)}`);
    for (const s of etcdSpans) assert.equal(s.parentSpanContext?.spanId, server.spanContext().spanId, `${s.name} is a child of the server span`);
  });

  it('a validate that goes to etcd on another node has etcd child spans (db.system=etcd, operation, key class) under the server span', async () => {
    const { sessionId } = await login(a, 'bob');
    ids.push(sessionId);
    const hash = hashSessionId(sessionId);
    await eventually(() => b.node.cache.get(hash), { what: 'watch delivery to B' });
    // A new session's first hit is compare-and-swapped in etcd (the single-request rule counts
    // cluster-wide), so this validate on B writes the session record through etcd.
    const caller = callerContext();
    assert.equal((await validateAs(b.api, caller, sessionId)).verdict, Verdict.VERDICT_VALID);

    const server = await waitForSpan((s) => s.spanContext().traceId === caller.traceId && s.kind === SpanKind.SERVER, 'server span on B');
    const txn = await waitForSpan(
      (s) => s.spanContext().traceId === caller.traceId && s.name === `${SPAN.etcdPrefix}txn`,
      'etcd txn span on B',
    );
    assert.equal(txn.kind, SpanKind.CLIENT);
    assert.equal(txn.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(txn.attributes['db.system'], 'etcd');
    assert.equal(txn.attributes['db.system.name'], 'etcd');
    assert.equal(txn.attributes['db.operation.name'], 'txn');
    assert.equal(txn.attributes[ATTR.keyClass], 'session');
    assert.ok(txn.startTime[0] * 1e9 + txn.startTime[1] >= server.startTime[0] * 1e9 + server.startTime[1], 'starts inside the server span');
    // The etcd3 library's own gRPC client span is suppressed: it would only repeat this one.
    assert.ok(!spansOf(caller.traceId).some((s) => s.name.startsWith('grpc.etcdserverpb')), 'no raw etcd gRPC client spans');
  });

  it('the client-side span of an instrumented caller in this process is the server span’s parent', async () => {
    const { sessionId } = await login(a, 'dave');
    ids.push(sessionId);
    spans.reset();
    await a.api.validate({ sessionId });
    const server = await waitForSpan((s) => s.name === VALIDATE_SPAN && s.kind === SpanKind.SERVER, 'server span');
    const client = await waitForSpan((s) => s.name === VALIDATE_SPAN && s.kind === SpanKind.CLIENT, 'client span');
    assert.equal(server.parentSpanContext?.spanId, client.spanContext().spanId);
  });

  it('a scavenger cycle reported by event becomes a back-dated root span with its counts', async () => {
    const before = Date.now();
    a.node.events.emit('scavenge-cycle', { durationMs: 1500, scanned: 40, ended: { EXPIRED_IDLE: 3, CONNECTION_LOST: 1 }, fencedOut: 0, lagMs: 250 });
    const s = await waitForSpan((x) => x.name === SPAN.scavengeCycle, 'scavenge span');
    assert.equal(s.parentSpanContext, undefined, 'a root span');
    assert.equal(s.attributes[ATTR.scanned], 40);
    assert.equal(s.attributes[ATTR.ended], 4);
    assert.equal(s.attributes[`${ATTR.endedPrefix}EXPIRED_IDLE`], 3);
    assert.equal(s.attributes[ATTR.lagMs], 250);
    assert.equal(s.attributes[ATTR.retroactive], true);
    const startMs = s.startTime[0] * 1000 + s.startTime[1] / 1e6;
    assert.ok(startMs <= before - 1400, `starts ~1.5 s before it was reported (${before - startMs} ms)`);
  });

  it('traceScavengeCycle makes the cycle a root span whose etcd requests are its children, and takes the report’s counts', async () => {
    await traceScavengeCycle(async () => {
      await a.node.etcd.range({ key: Buffer.from('/sm-test/s/') }, 's');
      a.node.events.emit('scavenge-cycle', { durationMs: 5, scanned: 2, ended: {}, fencedOut: 1, lagMs: 0 });
    });
    const cycle = await waitForSpan((x) => x.name === SPAN.scavengeCycle, 'scavenge span');
    assert.equal(cycle.parentSpanContext, undefined);
    assert.equal(cycle.attributes[ATTR.scanned], 2);
    assert.equal(cycle.attributes[ATTR.fencedOut], 1);
    assert.equal(cycle.attributes[ATTR.retroactive], undefined);
    const range = spansOf(cycle.spanContext().traceId).find((x) => x.name === `${SPAN.etcdPrefix}range`);
    assert.equal(range?.parentSpanContext?.spanId, cycle.spanContext().spanId);
    assert.equal(spans.getFinishedSpans().filter((x) => x.name === SPAN.scavengeCycle).length, 1, 'no second, retroactive span');
  });

  it('leadership changes, config reloads and lost leases or watches are short root spans', async () => {
    a.node.events.emit('leadership', true);
    a.node.events.emit('config-applied', 'abc123def456');
    a.node.events.emit('config-rejected', ['session.timeout.desktop: 0 is not allowed', 'session.bogus: unknown key']);
    a.node.events.emit('node-lease-lost');
    a.node.events.emit('watch-lost', new Error('watch stream ended'));
    const lead = await waitForSpan((x) => x.name === SPAN.leadership, 'leadership span');
    assert.equal(lead.attributes[ATTR.leader], true);
    const applied = await waitForSpan((x) => x.name === SPAN.configApplied, 'config applied span');
    assert.equal(applied.attributes[ATTR.configVersion], 'abc123def456');
    const rejected = await waitForSpan((x) => x.name === SPAN.configRejected, 'config rejected span');
    assert.equal(rejected.status.code, SpanStatusCode.ERROR);
    assert.equal(rejected.attributes[ATTR.problemCount], 2);
    assert.deepEqual(rejected.events[0]?.attributes?.[ATTR.problems], ['session.timeout.desktop: 0 is not allowed', 'session.bogus: unknown key']);
    assert.equal((await waitForSpan((x) => x.name === SPAN.nodeLeaseLost, 'lease lost span')).status.code, SpanStatusCode.ERROR);
    assert.equal((await waitForSpan((x) => x.name === SPAN.watchLost, 'watch lost span')).status.message, 'watch stream ended');
    a.node.events.emit('leadership', false);
  });

  it('no method of the service’s own APIs is on the untraced list (it matches on method names only)', () => {
    for (const def of [SessionServiceService, AdminServiceService]) {
      for (const m of Object.values(def)) {
        const name = m.path.split('/').pop()!;
        assert.ok(!UNTRACED_GRPC_METHODS.has(name), `${m.path} would not be traced`);
      }
    }
  });

  it('no span name, attribute, event or status in this suite contains a session id or its full hash', async () => {
    // One more round trip through every path that sees an id: validate, get, end, validate-after-end.
    const { sessionId } = await login(b, 'eve');
    ids.push(sessionId);
    const caller = callerContext();
    await validateAs(b.api, caller, sessionId);
    await b.api.get({ sessionId });
    await b.api.end({ sessionId });
    assert.equal((await validateAs(a.api, callerContext(), sessionId)).verdict, Verdict.VERDICT_NOT_FOUND);
    await waitForSpan((s) => s.spanContext().traceId === caller.traceId && s.kind === SpanKind.SERVER, 'server span');
    // Persistent logins (SPEC rule 19): issue, resume, grace, reuse, own sessions — no token either.
    const tokens: string[] = [];
    const p = await a.api.create({ site: 'tracing', user: 'pia', clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'd1', attributes: {}, persistent: true });
    const r = await b.api.resume({ loginToken: p.loginToken, deviceId: 'd1' });
    const again = await a.api.resume({ loginToken: p.loginToken, deviceId: 'd1' }); // within the grace: same successor
    ids.push(p.sessionId, r.sessionId, again.sessionId);
    tokens.push(p.loginToken, r.loginToken);
    await b.api.listMine({ sessionId: r.sessionId });
    await a.api.endMine({ sessionId: r.sessionId, scope: 1 });
    await b.api.end({ sessionId: r.sessionId, forgetLogin: true });
    await failure(a.api.resume({ loginToken: r.loginToken, deviceId: 'd1' }));
    const all = [...seen, ...spans.getFinishedSpans()];
    assert.ok(all.length > 20, `enough spans to mean something (${all.length})`);
    const secrets = [...ids.flatMap((id) => [id, hashSessionId(id)]), ...tokens.flatMap((t) => [t, hashLoginToken(t)])];
    for (const s of all) {
      for (const text of spanStrings(s)) {
        for (const secret of secrets) assert.ok(!text.includes(secret), `span ${s.name} carries a session id or hash: ${text}`);
      }
    }
  });
});
