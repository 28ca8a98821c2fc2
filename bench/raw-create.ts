// The CreateSession baseline: the same etcd txn the store's create sends (compare create_revision =
// 0 on the record key; put the record, the user index entry, the create marker and the CREATED event
// on shared leases), straight from an
// etcd3 client with the same number of requests in flight, and nothing else.
import { createHash, randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { defaultClusterPolicy } from '../src/config/schema.js';
import { sessionPolicyFor } from '../src/domain/policy.js';
import { newSessionRecord } from '../src/domain/session.js';
import { encodeIndexEntry, encodeSession } from '../src/store/etcd/codec.js';
import { Keys } from '../src/store/etcd/keys.js';
import { BENCH_PREFIX, percentile } from './lib.js';

/** Runs `count` create txns with `inflight` in flight; returns txn/s and p99 latency. */
export async function rawCreateBaseline(endpoint: string, count: number, inflight: number): Promise<{ rps: number; p99Ms: number }> {
  const client = new Etcd3({ hosts: [endpoint] });
  const keys = new Keys(BENCH_PREFIX);
  const policy = sessionPolicyFor(defaultClusterPolicy(), 'mobile');
  try {
    const lease = String((await client.leaseClient.leaseGrant({ TTL: 4 * 3600 })).ID);
    const lat: number[] = [];
    let next = 0;
    const t0 = performance.now();
    const worker = async () => {
      while (next < count) {
        next++;
        const hash = createHash('sha256').update(randomBytes(32)).digest('base64url');
        const rec = newSessionRecord({ site: 'default', user: `raw-${next}`, clientType: 'mobile', deviceId: 'bench', policy, attributeNames: [], now: Date.now() });
        const key = Buffer.from(keys.session(hash));
        const s = performance.now();
        await client.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [
            { request_put: { key, value: Buffer.from(encodeSession(rec)), lease } },
            { request_put: { key: Buffer.from(keys.userIndex(rec.site, rec.user, hash)), value: Buffer.from(encodeIndexEntry(rec)), lease } },
            { request_put: { key: Buffer.from(keys.lastCreate()), value: Buffer.alloc(0) } },
            { request_put: { key: Buffer.from(keys.event(`${Date.now().toString(36)}-${randomBytes(6).toString('base64url')}`)), value: randomBytes(90), lease } },
          ],
          failure: [],
        });
        lat.push(performance.now() - s);
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    const seconds = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    return { rps: count / seconds, p99Ms: percentile(lat, 0.99) };
  } finally {
    client.close();
  }
}
