// Heap per mirrored session, quickly (make bench-heap): fills a SessionCache with N decoded session
// records exactly the way the mirror does (etcd key-values → storedFromKv → upsert), from records
// encoded like bench/lib.ts fillSessions (mobile, no attributes), and prints the heap growth per
// session after forced GCs. Run with --expose-gc. Env: HEAP_SESSIONS (default 1000000).
import { hash } from 'node:crypto';
import type { IKeyValue } from 'etcd3';
import { SessionCache } from '../src/cache/session-cache.js';
import { defaultClusterPolicy } from '../src/config/schema.js';
import { sessionPolicyFor } from '../src/domain/policy.js';
import { newSessionRecord } from '../src/domain/session.js';
import { encodeSession } from '../src/store/etcd/codec.js';
import { storedFromKv } from '../src/store/etcd/session-kv.js';

const N = Number(process.env['HEAP_SESSIONS'] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const settled = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};
const policy = sessionPolicyFor(defaultClusterPolicy(), 'mobile');
const now = Date.now();
const cache = new SessionCache();
const before = settled();
const rss0 = process.memoryUsage().rss;
for (let i = 0; i < N; i++) {
  const h = hash('sha256', `bench-${i}`, 'base64url');
  const rec = newSessionRecord({ site: 'default', user: `user-${i % 100_000}`, clientType: 'mobile', deviceId: 'bench', policy, attributeNames: [], now });
  // What etcd3 hands the watch/relist: Buffers and revision strings.
  const kv = { key: Buffer.from(`/sm/s/${h}`), value: Buffer.from(encodeSession(rec)), mod_revision: String(1000 + i), create_revision: String(1000 + i), lease: '0', version: '1' } as unknown as IKeyValue;
  cache.upsert(storedFromKv(h, kv));
}
const after = settled();
const out = { sessions: cache.size, heapPerSession: Math.round((after - before) / N), rssPerSession: Math.round((process.memoryUsage().rss - rss0) / N) };
process.stdout.write(`${JSON.stringify(out)}\n`);
