import assert from 'node:assert/strict';
import type { ITxnRequest, ITxnResponse } from 'etcd3';
import { parseClusterConfig } from '../../src/config/schema.js';
import { StoreQuotaExceededError } from '../../src/domain/errors.js';
import type { StoredSession } from '../../src/domain/ports.js';
import { sessionPolicyFor } from '../../src/domain/policy.js';
import { newSessionRecord, type EndReason } from '../../src/domain/session.js';
import type { EtcdGateway } from '../../src/store/etcd/client.js';
import { decodeSession } from '../../src/store/etcd/codec.js';
import { Keys } from '../../src/store/etcd/keys.js';
import type { LeaseBuckets } from '../../src/store/etcd/lease-buckets.js';
import { EtcdSessionStore } from '../../src/store/etcd/session-store.js';
import { FakeClock } from '../support/fake-clock.js';

/** A gateway that answers txn() from a script and records each request; any other call throws. */
class ScriptedGateway {
  readonly txns: Array<{ req: ITxnRequest; prefix: string }> = [];
  constructor(private readonly answers: Array<ITxnResponse | Error>) {}
  async txn(req: ITxnRequest, prefix: string): Promise<ITxnResponse> {
    this.txns.push({ req, prefix });
    const a = this.answers.shift();
    if (!a) throw new Error('unexpected txn');
    if (a instanceof Error) throw a;
    return a;
  }
  traced(): never {
    throw new Error('unexpected traced');
  }
}

/** One lease for everything; nothing to forget. */
const leases = {
  leaseFor: async () => '77',
  forget: () => {
    throw new Error('unexpected forget');
  },
};

function ok(revision: number, succeeded = true): ITxnResponse {
  return { header: { revision: String(revision) }, succeeded, responses: [] } as unknown as ITxnResponse;
}

const keys = new Keys('/sm-unit/');
const clock = new FakeClock();

function stored(): StoredSession {
  const r = parseClusterConfig('');
  if (!r.ok) throw new Error(r.errors.join('; '));
  const rec = newSessionRecord({ site: 's', user: 'u', clientType: 'web', deviceId: 'd', policy: sessionPolicyFor(r.policy, 'web'), attributeNames: [], now: clock.now() });
  return { hash: 'h1', rec, version: 40, incarnation: 30, storeTag: '9' };
}

function store(gw: ScriptedGateway, lost: EndReason[] = []): EtcdSessionStore {
  return new EtcdSessionStore(gw as unknown as EtcdGateway, keys, leases as unknown as LeaseBuckets, {
    eventRetentionMs: () => 60_000,
    clock,
    onEventLost: (reason) => lost.push(reason),
  });
}

describe('EtcdSessionStore txn shapes', () => {
  it('update onto a new lease moves every key to it and returns the session tagged with that lease', async () => {
    const gw = new ScriptedGateway([ok(50)]);
    const s = stored();
    const r = await store(gw).update(s, { ...s.rec, hits: 2 }, 60_000);
    assert.ok(r.ok);
    assert.equal(r.session.storeTag, '77');
    assert.equal(r.session.version, 50);
    const puts = gw.txns[0]!.req.success!.map((op) => op.request_put!);
    assert.ok(puts.length >= 2 && puts.every((p) => String(p.lease) === '77'));
  });

  it('setConnectionLost: one txn on the record, compare on its version, put keeping its lease', async () => {
    const gw = new ScriptedGateway([ok(41)]);
    const s = stored();
    const written = await store(gw).setConnectionLost(s, 1234);
    assert.equal(gw.txns.length, 1);
    const { req, prefix } = gw.txns[0]!;
    assert.equal(prefix, 's');
    assert.deepEqual(req.compare, [{ key: Buffer.from(keys.session('h1')), target: 'Mod', result: 'Equal', mod_revision: 40 }]);
    assert.equal(req.success!.length, 1);
    const put = req.success![0]!.request_put!;
    assert.deepEqual(put.key, Buffer.from(keys.session('h1')));
    assert.equal(put.ignore_lease, true);
    assert.equal(put.lease, undefined);
    assert.equal(decodeSession(put.value as Buffer).connectionLostAt, 1234);
    assert.deepEqual(req.failure, []);
    assert.equal(written?.version, 41);
    assert.equal(written?.rec.connectionLostAt, 1234);
    assert.equal(written?.storeTag, '9');
  });

  it('setConnectionLost: null when the record changed', async () => {
    const gw = new ScriptedGateway([ok(41, false)]);
    assert.equal(await store(gw).setConnectionLost(stored(), 0), null);
  });

  it('end: deletes every key and writes the event; over quota, the deletes go alone and the lost event is reported', async () => {
    const gw = new ScriptedGateway([new StoreQuotaExceededError(), ok(50)]);
    const lost: EndReason[] = [];
    assert.equal(await store(gw, lost).end(stored(), 'LOGGED_OUT'), true);
    assert.equal(gw.txns.length, 2);
    const [full, deletesOnly] = gw.txns.map((t) => t.req);
    const compare = [{ key: Buffer.from(keys.session('h1')), target: 'Create', result: 'Equal', create_revision: 30 }];
    assert.deepEqual(full!.compare, compare);
    assert.deepEqual(deletesOnly!.compare, compare);
    assert.equal(full!.success!.length, 5);
    assert.ok(full!.success![4]!.request_put, 'the event put is last');
    assert.deepEqual(deletesOnly!.success, full!.success!.slice(0, 4));
    assert.ok(deletesOnly!.success!.every((op) => op.request_delete_range));
    assert.deepEqual(lost, ['LOGGED_OUT']);
  });

  it('endFenced: one outer txn fenced on the leader key, a nested txn per session guarded by its version', async () => {
    const answer = { header: { revision: '60' }, succeeded: true, responses: [{ response_txn: { succeeded: true } }, { response_txn: { succeeded: false } }] } as unknown as ITxnResponse;
    const gw = new ScriptedGateway([answer]);
    const a = stored();
    const b = { ...stored(), hash: 'h2', version: 45 };
    const r = await store(gw).endFenced([{ s: a, reason: 'EXPIRED_IDLE' }, { s: b, reason: 'EXPIRED_IDLE' }], { key: '/sm-unit/leader/x', incarnation: 12 });
    assert.equal(gw.txns.length, 1);
    const { req } = gw.txns[0]!;
    assert.deepEqual(req.compare, [{ key: Buffer.from('/sm-unit/leader/x'), target: 'Create', result: 'Equal', create_revision: 12 }]);
    assert.deepEqual(
      req.success!.map((op) => op.request_txn!.compare),
      [
        [{ key: Buffer.from(keys.session('h1')), target: 'Mod', result: 'Equal', mod_revision: 40 }],
        [{ key: Buffer.from(keys.session('h2')), target: 'Mod', result: 'Equal', mod_revision: 45 }],
      ],
    );
    assert.deepEqual(r, { ended: [{ s: a, reason: 'EXPIRED_IDLE' }], changed: 1, fencedOut: false });
  });
});
