import assert from 'node:assert/strict';
import { status, type ClientReadableStream } from '@grpc/grpc-js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { AttachResponse_Kind, type AttachResponse } from '../../src/gen/sessionmanager/v1/session_service.js';
import { AdminApi, SessionApi } from '../../src/transport/grpc/client.js';
import { EtcdCluster } from '../support/etcd.js';
import { adminTokenFile } from '../support/cluster.js';
import { failure } from '../support/grpc-errors.js';
import { startNode, type TestNode } from '../support/nodes.js';
import { eventually } from '../support/poll.js';

describe('open streams: 5,000 concurrent Attach and WatchEvents streams on one node', function () {
  let etcd: EtcdCluster;
  let n: TestNode;
  const { token, file } = adminTokenFile();
  const LIMIT = 5000;

  before(async () => {
    etcd = await EtcdCluster.start();
    n = await startNode({ endpoints: etcd.endpoints, node: { maxStreams: LIMIT, adminTokenFile: file } });
  });
  after(async () => {
    await n?.stop();
    await etcd?.stop();
  });

  it('holds the limit with bounded memory, refuses the next stream with RESOURCE_EXHAUSTED, and frees them', async () => {
    const { sessionId } = await n.api.create({ site: 'default', user: 'many', clientType: ClientType.CLIENT_TYPE_DESKTOP, deviceId: 'd', attributes: {} });
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    // Several channels, as many clients would open them.
    // Own connections (grpc-js would otherwise share one HTTP/2 connection between all clients).
    const own = { 'grpc.use_local_subchannel_pool': 1 };
    const clients = Array.from({ length: 10 }, () => new SessionApi(n.address, { channelOptions: own }));
    const admin = new AdminApi(n.address, token, { channelOptions: own });
    const streams: Array<ClientReadableStream<unknown>> = [];
    let attached = 0;
    for (let i = 0; i < LIMIT; i++) {
      if (i % 5 === 0) {
        const s = admin.watchEvents({ resumeToken: '' });
        s.on('error', () => {});
        s.on('data', () => {});
        streams.push(s);
      } else {
        const s = clients[i % clients.length]!.attach({ sessionId, instanceId: `w${i}` });
        s.on('error', () => {});
        s.on('data', (m: AttachResponse) => {
          if (m.kind === AttachResponse_Kind.KIND_ATTACHED) attached++;
        });
        streams.push(s);
      }
    }
    await eventually(() => n.node.streams.size === LIMIT, { timeoutMs: 60_000, what: `${LIMIT} open streams (have ${n.node.streams.size})` });
    await eventually(() => attached === LIMIT - LIMIT / 5, { timeoutMs: 60_000, what: 'all attached' });
    const heapAt = process.memoryUsage().heapUsed;
    const perStream = (heapAt - heapBefore) / LIMIT;
    // Client and server share this process: the figure covers both ends of each stream.
    process.stdout.write(`      heap per open stream (client + server): ${(perStream / 1024).toFixed(1)} KiB\n`);
    assert.ok(perStream < 64 * 1024, `heap per stream ${perStream} bytes`);

    const extra = clients[0]!.attach({ sessionId, instanceId: 'one-too-many' });
    const f = await failure(new Promise((resolve, reject) => (extra.on('error', reject), extra.on('data', resolve))));
    assert.deepEqual([f.code, f.reason], [status.RESOURCE_EXHAUSTED, 'TOO_MANY_STREAMS']);

    for (const s of streams) s.cancel();
    await eventually(() => n.node.streams.size === 0, { timeoutMs: 60_000, what: 'streams released' });
    assert.equal((await n.api.get({ sessionId })).session?.user, 'many', 'the node still serves');
    for (const c of clients) c.close();
    admin.close();
  });
});
