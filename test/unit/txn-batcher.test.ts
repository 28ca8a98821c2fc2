import assert from 'node:assert/strict';
import type { ICompare, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import { LeaseGoneError } from '../../src/store/etcd/errors.js';
import { TxnBatcher } from '../../src/store/etcd/txn-batcher.js';

/** An in-memory etcd txn: create_revision == 0 compares against a key set, puts add keys, one revision per txn. */
function fakeEtcd(options: { fail?: (req: ITxnRequest) => Error | undefined } = {}) {
  const keys = new Set<string>();
  const txns: ITxnRequest[] = [];
  let revision = 100;
  let inFlight = 0;
  let maxInFlight = 0;
  const run = async (req: ITxnRequest): Promise<ITxnResponse> => {
    txns.push(req);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    const err = options.fail?.(req);
    if (err) throw err;
    const seen = new Set<string>();
    for (const op of req.success ?? []) {
      const k = String(op.request_put?.key);
      assert.ok(!seen.has(k), `duplicate key ${k} in one txn (etcd refuses it)`);
      seen.add(k);
    }
    const ok = (req.compare ?? []).every((c) => !keys.has(String(c.key)));
    if (ok) {
      revision++;
      for (const op of req.success ?? []) keys.add(String(op.request_put?.key));
    }
    return { header: { revision: String(revision) }, succeeded: ok, responses: [] } as unknown as ITxnResponse;
  };
  return { run, txns, keys, maxInFlight: () => maxInFlight };
}

const create = (key: string): [ICompare[], IRequestOp[]] => [
  [{ key: Buffer.from(key), target: 'Create', result: 'Equal', create_revision: 0 }],
  [
    { request_put: { key: Buffer.from(key), value: Buffer.from('rec') } },
    { request_put: { key: Buffer.from(`idx/${key}`), value: Buffer.from('i') } },
    { request_put: { key: Buffer.from('marker'), value: Buffer.alloc(0) } },
  ],
];

describe('TxnBatcher: group commit of independent conditional writes', () => {
  it('writes submitted together share one txn, the shared marker put once, all at one revision', async () => {
    const etcd = fakeEtcd();
    const b = new TxnBatcher(etcd.run);
    const results = await Promise.all(['a', 'b', 'c'].map((k) => b.submit(...create(k))));
    assert.equal(etcd.txns.length, 1);
    assert.equal(etcd.txns[0]!.compare!.length, 3);
    assert.equal(etcd.txns[0]!.success!.length, 7, '3 × (record + index) + 1 marker');
    assert.deepEqual(results, [0, 1, 2].map(() => ({ succeeded: true, revision: 101 })));
    assert.deepEqual(b.stats, { batches: 1, writes: 3, retriedAlone: 0 });
  });

  it('a failed compare in a batch: every write is retried alone, only the colliding one fails', async () => {
    const etcd = fakeEtcd();
    etcd.keys.add('taken');
    const b = new TxnBatcher(etcd.run);
    const results = await Promise.all(['x', 'taken', 'y'].map((k) => b.submit(...create(k))));
    assert.deepEqual(results.map((r) => r.succeeded), [true, false, true]);
    assert.ok(etcd.keys.has('x') && etcd.keys.has('y') && !etcd.keys.has('idx/taken'));
    assert.equal(b.stats.retriedAlone, 3);
  });

  it('puts of one key with different values never share a txn', async () => {
    const etcd = fakeEtcd();
    const b = new TxnBatcher(etcd.run);
    const put = (v: string) => b.submit([], [{ request_put: { key: Buffer.from('k'), value: Buffer.from(v) } }]);
    await Promise.all([put('1'), put('2'), put('3')]);
    for (const t of etcd.txns) assert.equal(t.success!.length, 1);
    assert.equal(etcd.txns.length, 3);
  });

  it('a txn holds at most maxOps ops and compares; at most maxInFlight txns run at once', async () => {
    const etcd = fakeEtcd();
    const b = new TxnBatcher(etcd.run, { maxOps: 10, maxInFlight: 2 });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => b.submit(...create(`k${i}`))));
    assert.ok(results.every((r) => r.succeeded));
    for (const t of etcd.txns) {
      assert.ok(t.success!.length <= 10, `ops ${t.success!.length}`);
      assert.ok(t.compare!.length <= 10);
    }
    assert.ok(etcd.txns.length >= 8, `batches: ${etcd.txns.length}`);
    assert.equal(etcd.maxInFlight(), 2);
    assert.equal(etcd.keys.size, 81);
  });

  it('etcd unavailable: every write of the batch fails with that error, none is retried', async () => {
    const etcd = fakeEtcd({ fail: () => new StoreUnavailableError('down') });
    const b = new TxnBatcher(etcd.run);
    const results = await Promise.allSettled(['a', 'b'].map((k) => b.submit(...create(k))));
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof StoreUnavailableError));
    assert.equal(etcd.txns.length, 1);
  });

  it('a vanished lease in a batch: each write is retried alone and gets its own answer', async () => {
    const etcd = fakeEtcd({ fail: (req) => ((req.compare ?? []).some((c) => String(c.key) === 'bad') ? new LeaseGoneError() : undefined) });
    const b = new TxnBatcher(etcd.run);
    const results = await Promise.allSettled(['ok', 'bad'].map((k) => b.submit(...create(k))));
    assert.equal(results[0]!.status, 'fulfilled');
    assert.ok(results[1]!.status === 'rejected' && results[1]!.reason instanceof LeaseGoneError);
    assert.ok(etcd.keys.has('ok'));
  });

  it('a later write waits on the shared txn inside its own async context (for its trace span)', async () => {
    const etcd = fakeEtcd();
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const als = new AsyncLocalStorage<string>();
    const followed: Array<string | undefined> = [];
    const b = new TxnBatcher(etcd.run, { follow: (wait) => (followed.push(als.getStore()), wait()) });
    await Promise.all(['r1', 'r2', 'r3'].map((name) => als.run(name, () => b.submit(...create(name)))));
    assert.equal(etcd.txns.length, 1);
    assert.deepEqual(followed, ['r2', 'r3']);
  });

  it('refuses invalid options', () => {
    assert.throws(() => new TxnBatcher(fakeEtcd().run, { maxOps: 0 }), /maxOps/);
    assert.throws(() => new TxnBatcher(fakeEtcd().run, { maxInFlight: 1.5 }), /maxInFlight/);
  });
});
