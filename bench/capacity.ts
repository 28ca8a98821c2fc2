// Figures of docs/capacity.md (make bench-capacity): etcd bytes per session (db size after compaction
// and defragmentation ÷ sessions, with and without attributes), CreateSession and EndSession rates
// of one node on one etcd member, and the watch bytes each login and logout sends to every node.
// Env: CAP_SESSIONS (default 10000 per phase), CAP_INFLIGHT (default 64).
import { Etcd3 } from 'etcd3';
import { ClientType } from '../src/gen/sessionmanager/v1/session.js';
import { EtcdCluster } from '../test/support/etcd.js';
import { startNode } from '../test/support/nodes.js';

const N = Number(process.env['CAP_SESSIONS'] ?? 10_000);
const INFLIGHT = Number(process.env['CAP_INFLIGHT'] ?? 64);
const PREFIX = '/sm-cap/';
const log = (s: string) => console.log(`[capacity ${new Date().toISOString().slice(11, 19)}] ${s}`);

const etcd = await EtcdCluster.start({ extraArgs: ['--quota-backend-bytes', String(8 * 2 ** 30)] });
const client = new Etcd3({ hosts: [etcd.endpoints[0]!] });
const node = await startNode({ endpoints: etcd.endpoints, prefix: PREFIX, config: 'session.attributes.max-count=8\n' });
const watch = { puts: 0, deletes: 0, bytes: 0 };
const watcher = await client.watch().prefix(PREFIX).create();
watcher.on('put', (kv) => ((watch.puts += 1), (watch.bytes += kv.key.length + kv.value.length + 16)));
watcher.on('delete', (kv) => ((watch.deletes += 1), (watch.bytes += kv.key.length + 16)));

/** Compacts to the current revision, defragments, and returns the db size. */
async function dbSize(): Promise<number> {
  const rev = (await client.get('/cap-rev').exec()).header.revision;
  await client.kv.compact({ revision: rev, physical: true });
  await client.maintenance.defragment();
  return Number((await client.maintenance.status()).dbSize);
}

async function inParallel(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (next < count) await fn(next++);
  }));
  return count / ((performance.now() - t0) / 1000);
}

const out: Record<string, number> = {};
try {
  const attrs = new Map([['profile', new Uint8Array(100).fill(65)], ['cart', new Uint8Array(100).fill(66)]]);
  for (const [phase, attributes] of [['plain', new Map<string, Uint8Array>()], ['attrs', attrs]] as const) {
    const before = await dbSize();
    const w0 = { ...watch };
    const ids: string[] = [];
    const rate = await inParallel(N, async (i) => {
      const r = await node.api.create({ site: 'default', user: `${phase}-user-${i}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: `device-${i}`, attributes });
      ids.push(r.sessionId);
    });
    await new Promise((r) => setTimeout(r, 1000));
    const after = await dbSize();
    out[`${phase}.createPerS`] = Math.round(rate);
    out[`${phase}.dbBytesPerSession`] = Math.round((after - before) / N);
    out[`${phase}.watchBytesPerLogin`] = Math.round((watch.bytes - w0.bytes) / N);
    out[`${phase}.watchEventsPerLogin`] = (watch.puts - w0.puts) / N;
    log(`${phase}: ${N} logins at ${rate.toFixed(0)}/s; db ${before} → ${after} B (${out[`${phase}.dbBytesPerSession`]} B/session); watch ${out[`${phase}.watchBytesPerLogin`]} B/login`);
    const w1 = { ...watch };
    const half = ids.slice(0, N / 2);
    const endRate = await inParallel(half.length, (i) => node.api.end({ sessionId: half[i]! }));
    await new Promise((r) => setTimeout(r, 1000));
    out[`${phase}.logoutPerS`] = Math.round(endRate);
    out[`${phase}.watchBytesPerLogout`] = Math.round((watch.bytes - w1.bytes) / half.length);
    out[`${phase}.watchEventsPerLogout`] = (watch.puts + watch.deletes - w1.puts - w1.deletes) / half.length;
    log(`${phase}: ${half.length} logouts at ${endRate.toFixed(0)}/s; watch ${out[`${phase}.watchBytesPerLogout`]} B/logout`);
  }
  console.log(JSON.stringify(out));
} finally {
  await watcher.cancel();
  await node.stop();
  client.close();
  await etcd.stop();
}
process.exit(0);
