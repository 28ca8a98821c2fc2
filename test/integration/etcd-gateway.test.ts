import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { EtcdGateway } from '../../src/store/etcd/client.js';
import { listPrefix } from '../../src/store/etcd/range-lister.js';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import { EtcdCluster } from '../support/etcd.js';
import { freePort } from '../support/ports.js';

describe('etcd gateway: member circuit breakers count member failures only', function () {
  let etcd: EtcdCluster;

  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => {
    await etcd?.stop();
  });

  async function rangeOk(g: EtcdGateway): Promise<boolean> {
    const r = await g.range({ key: Buffer.from('/gw/x') }, 'gw');
    return Number(r.header.revision) > 0;
  }

  it('streams we cancel ourselves never open the breaker of a healthy member', async () => {
    const g = new EtcdGateway({ endpoints: etcd.endpoints });
    try {
      assert.equal(await rangeOk(g), true);
      // Two cancellations in a row with no request between them: etcd3 alone counts them as two
      // member failures and refuses every request for a second.
      for (let round = 0; round < 3; round++) {
        const streams = [await g.openWatch(), await g.openWatch()];
        const errors = streams.map((s) => new Promise<Error>((resolve) => s.on('error', resolve)));
        for (const s of streams) s.cancel();
        const codes = (await Promise.all(errors)).map((e) => (e as { code?: number }).code);
        assert.deepEqual(codes, [1, 1], 'both streams ended CANCELLED');
        assert.equal(await rangeOk(g), true, `round ${round}: a request right after the cancellations is served`);
      }
      // The same through etcd3's own election, whose observers are cancelled after every campaign.
      const election = g.client.election('gw-election', 1);
      for (let i = 0; i < 3; i++) {
        const c = election.campaign(`n${i}`);
        await c.wait();
        await c.resign();
        assert.equal(await rangeOk(g), true, `campaign ${i}`);
      }
    } finally {
      g.close();
    }
  });

  it('a member that is really down is still routed around', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const g = new EtcdGateway({ endpoints: [dead, ...etcd.endpoints], requestTimeoutMs: 1000 });
    try {
      let served = 0;
      let failed = 0;
      for (let i = 0; i < 20; i++) {
        try {
          if (await rangeOk(g)) served++;
        } catch (err) {
          assert.ok(err instanceof StoreUnavailableError, String(err));
          failed++;
        }
      }
      // Each request that lands on the dead member first fails; after two such failures its breaker
      // opens and the rest go to the live member.
      assert.ok(failed <= 2, `failed ${failed} of 20`);
      assert.equal(served + failed, 20);
    } finally {
      g.close();
    }
  });
});

describe('range lister against etcd: split listing at one revision', function () {
  let etcd: EtcdCluster;

  before(async () => {
    etcd = await EtcdCluster.start();
  });
  after(async () => {
    await etcd?.stop();
  });

  it('3,000 hashed keys with 50-key pages: every key once, none written after the first page', async () => {
    const g = new EtcdGateway({ endpoints: etcd.endpoints });
    const prefix = '/rl/s/';
    try {
      const want = Array.from({ length: 3000 }, (_, i) => `${prefix}${createHash('sha256').update(String(i)).digest('base64url')}`);
      for (let i = 0; i < want.length; i += 100) {
        await g.txn({ compare: [], success: want.slice(i, i + 100).map((k) => ({ request_put: { key: Buffer.from(k), value: Buffer.from('v') } })), failure: [] }, 'rl');
      }
      await g.txn({ compare: [], success: [{ request_put: { key: Buffer.from('/rl/t'), value: Buffer.from('outside') } }], failure: [] }, 'rl');
      const seen: string[] = [];
      let requests = 0;
      let late = 0;
      const revision = await listPrefix(
        async (req) => {
          requests++;
          const r = await g.range(req, 'rl');
          if (requests === 1) {
            // Written after the listing's revision: must not appear.
            await g.txn({ compare: [], success: [{ request_put: { key: Buffer.from(`${prefix}late-${late++}`), value: Buffer.from('v') } }], failure: [] }, 'rl');
          }
          return r;
        },
        prefix,
        { pageSize: 50, revision: 0 },
        (kvs) => seen.push(...kvs.map((kv) => kv.key.toString())),
      );
      assert.equal(seen.length, 3000);
      assert.deepEqual([...seen].sort(), [...want].sort());
      assert.ok(revision > 0);
      assert.ok(requests > 60, `split into sub-ranges: ${requests} requests`);
    } finally {
      g.close();
    }
  });
});
