import './setup.js';
import assert from 'node:assert/strict';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import { SessionNode } from '../../src/node/session-node.js';
import { createLogger } from '../../src/telemetry/log.js';
import { attachTelemetry, type NodeTelemetry } from '../../src/telemetry/node-telemetry.js';
import { SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { configOf } from '../support/nodes.js';
import { eventually } from '../support/poll.js';
import { callerContext, createAs, validateAs } from './trace-helpers.js';

/** Collects a logger's JSON lines. */
class Capture {
  readonly lines: string[] = [];
  write(chunk: string): void {
    this.lines.push(...chunk.split('\n').filter(Boolean));
  }
  get records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

describe('telemetry: logs', function () {
  let etcd: EtcdCluster;
  let node: SessionNode;
  let api: SessionApi;
  let wiring: NodeTelemetry;
  const out = new Capture();

  before(async () => {
    etcd = await EtcdCluster.start();
    const log = createLogger({ level: 'debug', nodeId: 'logs', destination: out });
    node = new SessionNode({
      nodeId: 'logs',
      listen: '127.0.0.1:0',
      etcd: { endpoints: etcd.endpoints, requestTimeoutMs: 2000 },
      prefix: '/sm-test/',
      config: configOf(),
      logger: log,
      shutdownGraceMs: 2000,
      allowAnonymous: true,
    });
    wiring = attachTelemetry(node, { logger: log });
    await node.start();
    api = new SessionApi(`127.0.0.1:${node.port}`, { timeoutMs: 5000 });
  });
  after(async () => {
    api?.close();
    wiring?.detach();
    await node?.stop();
    await etcd?.stop();
  });

  it('every line written inside a request carries that request’s trace_id and its server span’s span_id', async () => {
    const login = callerContext();
    const { sessionId } = await createAs(api, login, { site: 'logs', user: 'lea', clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'd', attributes: {} });
    const check = callerContext();
    assert.equal((await validateAs(api, check, sessionId)).verdict, Verdict.VERDICT_VALID);
    const create = await eventually(() => out.records.find((r) => r['rpc'] === 'CreateSession'), { what: 'CreateSession line' });
    const validate = await eventually(() => out.records.find((r) => r['rpc'] === 'ValidateSession'), { what: 'ValidateSession line' });
    assert.equal(create['trace_id'], login.traceId);
    assert.equal(validate['trace_id'], check.traceId);
    assert.match(String(validate['span_id']), /^[0-9a-f]{16}$/);
    assert.notEqual(validate['span_id'], check.spanId, 'the server span’s id, not the caller’s');
    assert.equal(validate['trace_flags'], '01');
    assert.equal(validate['node'], 'logs');
    assert.equal(validate['level'], 20, 'the access line is debug');
    // Lines written outside any request carry no trace context.
    const serving = out.records.find((r) => r['msg'] === 'serving');
    assert.ok(serving, 'the start-up line');
    assert.equal(serving['trace_id'], undefined);
    // And the session id itself never reaches the log.
    await api.end({ sessionId });
    assert.ok(!out.lines.some((l) => l.includes(sessionId)), 'a session id in the log');
  });

  it('redacts credentials and session ids passed as fields', () => {
    const cap = new Capture();
    const log = createLogger({ level: 'info', destination: cap });
    log.info({ password: 'hunter2', sessionId: 'abc', nested: { token: 't0k3n', session_id: 'def' } }, 'careless');
    const line = cap.lines[0]!;
    for (const secret of ['hunter2', 'abc', 't0k3n', 'def']) assert.ok(!line.includes(`"${secret}"`), `${secret} in ${line}`);
    assert.ok(line.includes('[REDACTED]'));
  });

  it('takes its level from SM_LOG_LEVEL, default info', () => {
    const saved = process.env['SM_LOG_LEVEL'];
    try {
      delete process.env['SM_LOG_LEVEL'];
      assert.equal(createLogger({ destination: new Capture() }).level, 'info');
      process.env['SM_LOG_LEVEL'] = 'warn';
      assert.equal(createLogger({ destination: new Capture() }).level, 'warn');
    } finally {
      if (saved === undefined) delete process.env['SM_LOG_LEVEL'];
      else process.env['SM_LOG_LEVEL'] = saved;
    }
  });
});
