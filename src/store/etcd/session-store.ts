import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { AttributeExistsError, AttributeNotFoundError, EtagMismatchError } from '../../domain/errors.js';
import type { AttributeCondition, CasResult, SessionStore, StoredAttribute, StoredSession } from '../../domain/ports.js';
import type { SessionRecord } from '../../domain/session.js';
import type { EtcdGateway } from './client.js';
import { decodeAttribute, decodeSession, encodeAttribute, encodeSession } from './codec.js';
import { LeaseGoneError } from './errors.js';
import { prefixEnd, type Keys } from './keys.js';
import type { LeaseBuckets } from './lease-buckets.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Builds a StoredSession from an etcd key-value of a session record. */
export function storedFromKv(hash: string, kv: IKeyValue): StoredSession {
  return {
    hash,
    rec: decodeSession(kv.value),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
    lease: String(kv.lease ?? '0'),
  };
}

/**
 * EtcdSessionStore keeps sessions in etcd (ARCHITECTURE decisions 1 and 2): one record per session
 * keyed by the id's hash, attributes and the user index beside it, all on one bucketed lease, every
 * write a single txn guarded by revision compares so nothing is ever half-written.
 */
export class EtcdSessionStore implements SessionStore {
  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly leases: LeaseBuckets,
  ) {}

  /** Runs `fn` with a lease for `keys` keys; if etcd says the lease vanished, retries once with a fresh one. */
  private async withLease<T>(ttlMs: number, keys: number, fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = await this.leases.leaseFor(ttlMs, keys);
    try {
      return await fn(lease);
    } catch (err) {
      if (!(err instanceof LeaseGoneError)) throw err;
      this.leases.forget(lease);
      return fn(await this.leases.leaseFor(ttlMs, keys));
    }
  }

  async create(
    hash: string,
    rec: SessionRecord,
    attributes: ReadonlyMap<string, Uint8Array>,
    etags: ReadonlyMap<string, string>,
    ttlMs: number,
  ): Promise<StoredSession> {
    const key = this.keys.session(hash);
    const value = Buffer.from(encodeSession(rec));
    return this.withLease(ttlMs, 2 + attributes.size, async (lease) => {
      const ops: IRequestOp[] = [
        { request_put: { key: b(key), value, lease } },
        { request_put: { key: b(this.keys.userIndex(rec.site, rec.user, hash)), value: Buffer.alloc(0), lease } },
      ];
      for (const [name, v] of attributes) {
        ops.push({ request_put: { key: b(this.keys.attribute(hash, name)), value: Buffer.from(encodeAttribute(v, etags.get(name) ?? '')), lease } });
      }
      const r = await this.etcd.txn(
        { compare: [{ key: b(key), target: 'Create', result: 'Equal', create_revision: 0 }], success: ops, failure: [] },
        's',
      );
      if (!r.succeeded) throw new Error('store: session hash collision'); // 256-bit ids: never in practice
      const rev = Number(r.header.revision);
      return { hash, rec, modRevision: rev, createRevision: rev, lease };
    });
  }

  async get(hash: string): Promise<{ session: StoredSession | null; revision: number }> {
    const r = await this.etcd.range({ key: b(this.keys.session(hash)) }, 's');
    const kv = r.kvs[0];
    return { session: kv ? storedFromKv(hash, kv) : null, revision: Number(r.header.revision) };
  }

  private currentFrom(hash: string, r: ITxnResponse): StoredSession | null {
    const kv = r.responses[0]?.response_range?.kvs[0];
    return kv ? storedFromKv(hash, kv) : null;
  }

  async update(prev: StoredSession, next: SessionRecord, ttlMs: number): Promise<CasResult> {
    const key = this.keys.session(prev.hash);
    const value = Buffer.from(encodeSession(next));
    const keyCount = 2 + prev.rec.attributeNames.length;
    return this.withLease(ttlMs, keyCount, async (lease) => {
      const ops: IRequestOp[] = [];
      if (lease === prev.lease) {
        ops.push({ request_put: { key: b(key), value, ignore_lease: true } });
      } else {
        // Move every key of the session to the new lease so etcd removes them together.
        ops.push({ request_put: { key: b(key), value, lease } });
        ops.push({ request_put: { key: b(this.keys.userIndex(prev.rec.site, prev.rec.user, prev.hash)), ignore_value: true, lease } });
        for (const name of prev.rec.attributeNames) {
          ops.push({ request_put: { key: b(this.keys.attribute(prev.hash, name)), ignore_value: true, lease } });
        }
      }
      const r = await this.etcd.txn(
        {
          compare: [{ key: b(key), target: 'Mod', result: 'Equal', mod_revision: prev.modRevision }],
          success: ops,
          failure: [{ request_range: { key: b(key) } }],
        },
        's',
      );
      if (!r.succeeded) return { ok: false, current: this.currentFrom(prev.hash, r) };
      const rev = Number(r.header.revision);
      return { ok: true, session: { ...prev, rec: next, modRevision: rev, lease } };
    });
  }

  async end(s: StoredSession): Promise<boolean> {
    const key = this.keys.session(s.hash);
    const attrs = this.keys.attributes(s.hash);
    const r = await this.etcd.txn(
      {
        compare: [{ key: b(key), target: 'Create', result: 'Equal', create_revision: s.createRevision }],
        success: [
          { request_delete_range: { key: b(key) } },
          { request_delete_range: { key: b(attrs), range_end: prefixEnd(attrs) } },
          { request_delete_range: { key: b(this.keys.userIndex(s.rec.site, s.rec.user, s.hash)) } },
        ],
        failure: [],
      },
      's',
    );
    return r.succeeded;
  }

  async getAttribute(hash: string, name: string): Promise<StoredAttribute | null> {
    const r = await this.etcd.range({ key: b(this.keys.attribute(hash, name)) }, 'a');
    const kv = r.kvs[0];
    return kv ? decodeAttribute(kv.value) : null;
  }

  private async readAttribute(hash: string, name: string): Promise<{ attr: StoredAttribute | null; mod: number }> {
    const r = await this.etcd.range({ key: b(this.keys.attribute(hash, name)) }, 'a');
    const kv = r.kvs[0];
    return kv ? { attr: decodeAttribute(kv.value), mod: Number(kv.mod_revision) } : { attr: null, mod: 0 };
  }

  private static checkCondition(name: string, attr: StoredAttribute | null, cond: AttributeCondition): void {
    if (cond.createOnly && attr) throw new AttributeExistsError(name);
    if (cond.etag !== undefined && cond.etag !== '' && attr?.etag !== cond.etag) throw new EtagMismatchError(name);
  }

  async setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult> {
    const { attr, mod } = await this.readAttribute(s.hash, name);
    EtcdSessionStore.checkCondition(name, attr, cond);
    const key = this.keys.session(s.hash);
    const isNew = !s.rec.attributeNames.includes(name);
    const next: SessionRecord = isNew ? { ...s.rec, attributeNames: [...s.rec.attributeNames, name] } : s.rec;
    const success: IRequestOp[] = [
      { request_put: { key: b(this.keys.attribute(s.hash, name)), value: Buffer.from(encodeAttribute(value, etag)), lease: s.lease } },
    ];
    if (isNew) success.push({ request_put: { key: b(key), value: Buffer.from(encodeSession(next)), ignore_lease: true } });
    const r = await this.etcd.txn(
      {
        compare: [
          isNew
            ? { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.modRevision }
            : { key: b(key), target: 'Create', result: 'Equal', create_revision: s.createRevision },
          { key: b(key), target: 'Lease', result: 'Equal', lease: s.lease },
          { key: b(this.keys.attribute(s.hash, name)), target: 'Mod', result: 'Equal', mod_revision: mod },
        ],
        success,
        failure: [{ request_range: { key: b(key) } }],
      },
      'a',
    );
    if (!r.succeeded) return { ok: false, current: this.currentFrom(s.hash, r) };
    const rev = Number(r.header.revision);
    return { ok: true, session: isNew ? { ...s, rec: next, modRevision: rev } : s };
  }

  async deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult> {
    const { attr, mod } = await this.readAttribute(s.hash, name);
    if (!attr) throw new AttributeNotFoundError(name);
    EtcdSessionStore.checkCondition(name, attr, cond);
    const key = this.keys.session(s.hash);
    const next: SessionRecord = { ...s.rec, attributeNames: s.rec.attributeNames.filter((n) => n !== name) };
    const r = await this.etcd.txn(
      {
        compare: [
          { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.modRevision },
          { key: b(this.keys.attribute(s.hash, name)), target: 'Mod', result: 'Equal', mod_revision: mod },
        ],
        success: [
          { request_delete_range: { key: b(this.keys.attribute(s.hash, name)) } },
          { request_put: { key: b(key), value: Buffer.from(encodeSession(next)), ignore_lease: true } },
        ],
        failure: [{ request_range: { key: b(key) } }],
      },
      'a',
    );
    if (!r.succeeded) return { ok: false, current: this.currentFrom(s.hash, r) };
    return { ok: true, session: { ...s, rec: next, modRevision: Number(r.header.revision) } };
  }
}
