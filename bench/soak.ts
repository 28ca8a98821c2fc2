// Soak (make soak, not in CI): one node process under a bounded mixed load for SOAK_SECONDS (default
// 600), sampling RSS, heap and event-loop delay every SOAK_SAMPLE_MS (default 10 s) into docs/soak.csv.
// Loopback only; the load stops by itself at the time or op budget.
import { writeFileSync } from 'node:fs';
import { Etcd3 } from 'etcd3';
import { ClientType } from '../src/gen/sessionmanager/v1/session.js';
import { SessionApi } from '../src/transport/grpc/client.js';
import { EtcdCluster } from '../test/support/etcd.js';
import { inRepo, JsonChild } from './lib.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 600);
const SAMPLE_MS = Number(process.env['SOAK_SAMPLE_MS'] ?? 10_000);
const MAX_OPS = Number(process.env['SOAK_MAX_OPS'] ?? 5_000_000);
const INFLIGHT = Number(process.env['SOAK_INFLIGHT'] ?? 16);
/** Live sessions the load keeps around: beyond it, logouts outweigh logins. */
const LIVE_TARGET = Number(process.env['SOAK_LIVE'] ?? 20_000);
const OUT = process.env['SOAK_OUT'] ?? inRepo('docs/soak.csv');

const log = (s: string) => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${s}`);

async function main(): Promise<void> {
  const etcd = await EtcdCluster.start();
  // Compact now and then like a production etcd would (--auto-compaction), so etcd's own growth does not
  // dominate; the node's memory is what is measured.
  const admin = new Etcd3({ hosts: etcd.endpoints });
  const node = new JsonChild([inRepo('dist/bench/node-probe.js'), '--etcd', etcd.endpoints[0]!, '--sample-ms', String(SAMPLE_MS), '--node-id', 'soak']);
  const rows: string[] = ['elapsed_s,rss_mib,heap_used_mib,heap_total_mib,eld_p50_ms,eld_p99_ms,eld_max_ms,cache_sessions,touch_backlog,ops_total,ops_per_s,errors_total'];
  try {
    const ready = await node.wait('ready');
    const api = new SessionApi(`127.0.0.1:${ready['port']}`, { timeoutMs: 10_000 });
    const live: string[] = [];
    let ops = 0;
    let errors = 0;
    let lastOps = 0;
    const t0 = Date.now();
    let lastAt = t0;
    node.proc.stdout!.on('data', () => {
      for (const m of node.messages.splice(0)) {
        if (m['event'] !== 'sample') continue;
        const at = Number(m['at']);
        const mib = (x: unknown) => (Number(x) / 2 ** 20).toFixed(1);
        const rate = ((ops - lastOps) * 1000) / Math.max(1, at - lastAt);
        rows.push([((at - t0) / 1000).toFixed(0), mib(m['rss']), mib(m['heapUsed']), mib(m['heapTotal']), Number(m['eldP50Ms']).toFixed(2), Number(m['eldP99Ms']).toFixed(2), Number(m['eldMaxMs']).toFixed(2), m['cacheSize'], m['touchBacklog'], ops, rate.toFixed(0), errors].join(','));
        log(`rss ${mib(m['rss'])} MiB heap ${mib(m['heapUsed'])} MiB eld p99 ${Number(m['eldP99Ms']).toFixed(1)} ms sessions ${m['cacheSize']} ops/s ${rate.toFixed(0)} errors ${errors}`);
        lastOps = ops;
        lastAt = at;
      }
    });
    const compactor = setInterval(() => {
      void admin
        .get('/soak-rev')
        .exec()
        .then((r) => admin.kv.compact({ revision: Number(r.header.revision) }))
        .catch(() => {});
    }, 60_000);
    const stopAt = t0 + SECONDS * 1000;
    let n = 0;
    await Promise.all(
      Array.from({ length: INFLIGHT }, async () => {
        while (Date.now() < stopAt && ops < MAX_OPS) {
          ops++;
          const r = Math.random();
          try {
            if (live.length < 100 || r < (live.length < LIVE_TARGET ? 0.15 : 0.05)) {
              const { sessionId } = await api.create({ site: 'default', user: `soak-${n++}`, clientType: ClientType.CLIENT_TYPE_MOBILE, deviceId: 'soak', attributes: { cart: Buffer.from('0') } });
              live.push(sessionId);
            } else {
              const i = Math.floor(Math.random() * live.length);
              const id = live[i]!;
              if (r < 0.75) await api.validate({ sessionId: id });
              else if (r < 0.85) await api.heartbeat({ sessionId: id, instanceId: 'tab' });
              else if (r < 0.93) await api.setAttribute({ sessionId: id, name: 'cart', value: Buffer.from(String(ops)), etag: '', createOnly: false });
              else if (live.length > LIVE_TARGET / 2 || r < 0.95) {
                live.splice(i, 1);
                await api.end({ sessionId: id });
              } else await api.getAttribute({ sessionId: id, name: 'cart' });
            }
          } catch {
            errors++;
          }
        }
      }),
    );
    clearInterval(compactor);
    await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, 2000) + 200));
    api.close();
    writeFileSync(OUT, rows.join('\n') + '\n');
    log(`${ops} ops, ${errors} errors in ${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${OUT}`);
  } finally {
    await node.stop();
    admin.close();
    await etcd.stop();
  }
}

const watchdog = setTimeout(() => {
  console.error('soak: gave up (time budget + 5 minutes)');
  process.exit(2);
}, (SECONDS + 300) * 1000);
watchdog.unref();
main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
