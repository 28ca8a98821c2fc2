// Half-open Attach connections (issue 10 item 7): a desktop client that stops answering — SIGSTOPped
// with its stream open, so the TCP connection stays up — must count as disconnected within the server
// keepalive bound (keepalive time + keepalive timeout), and its connection-bound session must then end
// after session.connection.grace. Results are written up in docs/faults.md.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import type { SessionNodeOptions } from '../../src/node/session-node.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

const CLIENT = new URL('./attach-client.js', import.meta.url).pathname;
const KEEPALIVE_TIME_MS = 2000;
const KEEPALIVE_TIMEOUT_MS = 2000;
const GRACE_MS = 2000;
/** Timer granularity, the presence sweep and the polling interval. */
const SLACK_MS = 2000;
const report = (line: string) => console.log(`      » ${line}`);

describe('faults: a half-open Attach connection', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  let node: TestNode;
  let client: ChildProcess | undefined;

  before(async () => {
    etcd = await EtcdCluster.start();
    const extra = { keepaliveTimeMs: KEEPALIVE_TIME_MS, keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS, presenceSweepMs: 200 };
    node = await startNode({ endpoints: etcd.endpoints, config: `session.connection.grace=${GRACE_MS}ms\ncache.max-staleness=2s`, node: extra as Partial<SessionNodeOptions> });
  });
  after(async () => {
    client?.kill('SIGKILL');
    await node?.stop();
    await etcd?.stop();
  });

  it('a SIGSTOPped desktop client: the session ends within keepalive time + timeout + connection grace', async () => {
    const { sessionId } = await node.api.create({ site: 's', user: 'u-halfopen', clientType: ClientType.CLIENT_TYPE_DESKTOP, deviceId: 'd', attributes: {} });
    client = spawn(process.execPath, [CLIENT, node.address, sessionId], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    client.stdout!.on('data', (d) => (out += d));
    client.stderr!.on('data', (d) => (out += d));
    await eventually(() => out.includes('ATTACHED'), { timeoutMs: 15_000, what: `client attached; output: ${out}` });
    // Attached: the session outlives the connection grace while the client answers pings.
    await new Promise((r) => setTimeout(r, GRACE_MS + KEEPALIVE_TIME_MS + 500));
    assert.equal((await node.api.validate({ sessionId })).verdict, Verdict.VERDICT_VALID, 'attached and answering: VALID');

    client.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const bound = KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS + GRACE_MS;
    await eventually(async () => (await node.api.validate({ sessionId })).verdict !== Verdict.VERDICT_VALID, {
      timeoutMs: bound + SLACK_MS + 10_000,
      intervalMs: 100,
      what: 'the session of the stopped client to end',
    });
    const tookMs = Date.now() - stoppedAt;
    report(`SIGSTOPped client: session no longer VALID after ${(tookMs / 1000).toFixed(1)} s (bound ${(bound / 1000).toFixed(0)} s = keepalive ${KEEPALIVE_TIME_MS / 1000} s + timeout ${KEEPALIVE_TIMEOUT_MS / 1000} s + grace ${GRACE_MS / 1000} s)`);
    assert.ok(tookMs <= bound + SLACK_MS, `ended after ${tookMs} ms, bound ${bound} ms + ${SLACK_MS} ms slack`);
    client.kill('SIGKILL');
    client = undefined;
  });
});
