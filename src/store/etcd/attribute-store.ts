import type { IRequestOp } from 'etcd3';
import { AttributeExistsError, AttributeNotFoundError, EtagMismatchError } from '../../domain/errors.js';
import type { AttributeCondition, CasResult, StoredAttribute, StoredSession } from '../../domain/ports.js';
import type { SessionRecord } from '../../domain/session.js';
import { decodeAttribute, encodeAttribute, encodeSession } from './codec.js';
import { currentFrom, type SessionKv } from './session-kv.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Throws the condition's error when an attribute write's condition does not hold. */
function checkCondition(name: string, attr: StoredAttribute | null, cond: AttributeCondition): void {
  if (cond.createOnly && attr) throw new AttributeExistsError(name);
  if (cond.etag !== undefined && cond.etag !== '' && attr?.etag !== cond.etag) throw new EtagMismatchError(name);
}

/**
 * EtcdAttributeStore reads and writes a session's attributes (SPEC rule 13): each attribute its own
 * key on the session's lease, the record's attribute list kept in step in the same txn, every write
 * guarded by the session's and the attribute's revisions.
 */
export class EtcdAttributeStore {
  constructor(private readonly kv: SessionKv) {}

  /** Reads one attribute (linearizable), or null. */
  async getAttribute(hash: string, name: string): Promise<StoredAttribute | null> {
    const r = await this.kv.etcd.range({ key: b(this.kv.keys.attribute(hash, name)) }, 'a');
    const kv = r.kvs[0];
    return kv ? decodeAttribute(kv.value) : null;
  }

  /** One attribute with its mod revision (0 when absent), for the compare of a write. */
  private async readAttribute(hash: string, name: string): Promise<{ attr: StoredAttribute | null; mod: number }> {
    const r = await this.kv.etcd.range({ key: b(this.kv.keys.attribute(hash, name)) }, 'a');
    const kv = r.kvs[0];
    return kv ? { attr: decodeAttribute(kv.value), mod: Number(kv.mod_revision) } : { attr: null, mod: 0 };
  }

  /** Writes an attribute; throws EtagMismatchError / AttributeExistsError; CAS failure on session changes. */
  async setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult> {
    const { keys, etcd } = this.kv;
    const { attr, mod } = await this.readAttribute(s.hash, name);
    checkCondition(name, attr, cond);
    const key = keys.session(s.hash);
    const isNew = !s.rec.attributeNames.includes(name);
    const next: SessionRecord = isNew ? { ...s.rec, attributeNames: [...s.rec.attributeNames, name] } : s.rec;
    const success: IRequestOp[] = [
      { request_put: { key: b(keys.attribute(s.hash, name)), value: Buffer.from(encodeAttribute(value, etag)), lease: s.storeTag } },
    ];
    if (isNew) success.push({ request_put: { key: b(key), value: Buffer.from(encodeSession(next)), ignore_lease: true } });
    const r = await etcd.txn(
      {
        compare: [
          isNew
            ? { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.version }
            : { key: b(key), target: 'Create', result: 'Equal', create_revision: s.incarnation },
          { key: b(key), target: 'Lease', result: 'Equal', lease: s.storeTag },
          { key: b(keys.attribute(s.hash, name)), target: 'Mod', result: 'Equal', mod_revision: mod },
        ],
        success,
        failure: [{ request_range: { key: b(key) } }],
      },
      'a',
    );
    if (!r.succeeded) return { ok: false, current: currentFrom(s.hash, r) };
    const rev = Number(r.header.revision);
    return { ok: true, session: isNew ? { ...s, rec: next, version: rev } : s };
  }

  /** Deletes an attribute; throws AttributeNotFoundError / EtagMismatchError; CAS failure on session changes. */
  async deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult> {
    const { keys, etcd } = this.kv;
    const { attr, mod } = await this.readAttribute(s.hash, name);
    if (!attr) throw new AttributeNotFoundError(name);
    checkCondition(name, attr, cond);
    const key = keys.session(s.hash);
    const next: SessionRecord = { ...s.rec, attributeNames: s.rec.attributeNames.filter((n) => n !== name) };
    const r = await etcd.txn(
      {
        compare: [
          { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.version },
          { key: b(keys.attribute(s.hash, name)), target: 'Mod', result: 'Equal', mod_revision: mod },
        ],
        success: [
          { request_delete_range: { key: b(keys.attribute(s.hash, name)) } },
          { request_put: { key: b(key), value: Buffer.from(encodeSession(next)), ignore_lease: true } },
        ],
        failure: [{ request_range: { key: b(key) } }],
      },
      'a',
    );
    if (!r.succeeded) return { ok: false, current: currentFrom(s.hash, r) };
    return { ok: true, session: { ...s, rec: next, version: Number(r.header.revision) } };
  }
}
