import type { ICompare, IRequestOp } from 'etcd3';
import type { LoginFamily } from '../../domain/login-family.js';
import type { Fence, LoginFamilyStore, LoginTokenWrite, StoredFamily } from '../../domain/ports.js';
import type { EndReason } from '../../domain/session.js';
import { UnreadableRecordError } from '../../domain/errors.js';
import type { EtcdGateway } from './client.js';
import { prefixEnd, type Keys } from './keys.js';
import type { LeaseBuckets } from './lease-buckets.js';

const b = (s: string): Buffer => Buffer.from(s);
const FAMILY_VERSION = 1;

/** Encodes a family record (versioned JSON: hashes, names and times only, never a token). */
export function encodeFamily(f: LoginFamily): Buffer {
  return Buffer.from(JSON.stringify({ v: FAMILY_VERSION, ...f }));
}

/** Decodes a family record; throws UnreadableRecordError on corrupt bytes or unknown versions. */
export function decodeFamily(bytes: Uint8Array): LoginFamily {
  let m: LoginFamily & { v?: number };
  try {
    m = JSON.parse(Buffer.from(bytes).toString()) as LoginFamily & { v?: number };
  } catch (err) {
    throw new UnreadableRecordError(`login family: ${(err as Error).message}`);
  }
  if (m.v !== FAMILY_VERSION) throw new UnreadableRecordError(`login family version ${String(m.v)}`);
  const { v: _v, ...f } = m;
  return f;
}

/**
 * EtcdLoginFamilyStore keeps persistent-login token families (SPEC rule 19): one record per family,
 * one key per token hash pointing at it, and a per-user index, all on leases that end with the
 * family's lifetime (the backstop that removes expired tokens). A family changes only by
 * compare-and-swap on its record's mod revision, in the same txn as the session a resume creates.
 */
export class EtcdLoginFamilyStore implements LoginFamilyStore {
  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly leases: LeaseBuckets,
  ) {}

  /** The compare and ops a login txn carries for a family write (issue: create; resume: rotate). */
  async writeOps(w: LoginTokenWrite, now: number): Promise<{ compare: ICompare[]; ops: IRequestOp[] }> {
    const lease = await this.leases.leaseFor(Math.max(1000, w.family.expiresAt - now), 3);
    const fk = this.keys.loginFamily(w.familyId);
    return {
      compare: [
        w.expectMod === 0
          ? { key: b(fk), target: 'Create', result: 'Equal', create_revision: 0 }
          : { key: b(fk), target: 'Mod', result: 'Equal', mod_revision: w.expectMod },
        { key: b(this.keys.loginToken(w.tokenHash)), target: 'Create', result: 'Equal', create_revision: 0 },
      ],
      ops: [
        { request_put: { key: b(fk), value: encodeFamily(w.family), lease } },
        { request_put: { key: b(this.keys.loginToken(w.tokenHash)), value: b(w.familyId), lease } },
        { request_put: { key: b(this.keys.userFamilies(w.family.site, w.family.user) + w.familyId), value: Buffer.alloc(0), lease } },
      ],
    };
  }

  async byToken(tokenHash: string): Promise<StoredFamily | null> {
    const r = await this.etcd.range({ key: b(this.keys.loginToken(tokenHash)) }, 'l');
    const kv = r.kvs[0];
    return kv ? this.get(kv.value.toString()) : null;
  }

  async get(familyId: string): Promise<StoredFamily | null> {
    const r = await this.etcd.range({ key: b(this.keys.loginFamily(familyId)) }, 'l');
    const kv = r.kvs[0];
    return kv ? { id: familyId, family: decodeFamily(kv.value), version: Number(kv.mod_revision) } : null;
  }

  async revoke(f: StoredFamily, reason: EndReason, now: number): Promise<boolean> {
    const key = b(this.keys.loginFamily(f.id));
    const r = await this.etcd.txn(
      {
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: f.version }],
        // The token keys stay (on the family's lease), so a token of it presented later is still recognised.
        success: [{ request_put: { key, value: encodeFamily({ ...f.family, revokedAt: now, revokedReason: reason }), ignore_lease: true } }],
        failure: [],
      },
      'l',
    );
    return r.succeeded;
  }

  async sweepExpired(now: number, fence: Fence): Promise<number> {
    const prefix = `${this.keys.prefix}lf/`;
    const r = await this.etcd.range({ key: b(prefix), range_end: prefixEnd(prefix) }, 'l');
    let removed = 0;
    for (const kv of r.kvs) {
      let f: LoginFamily;
      try {
        f = decodeFamily(kv.value);
      } catch {
        continue; // unreadable: left to its lease
      }
      // A revoked family stays until its lease ends, so its tokens still answer as revoked.
      if (f.revokedAt !== undefined || (now < f.expiresAt && now < f.lastUsedAt + f.idleMs)) continue;
      const id = kv.key.toString().slice(prefix.length);
      const ops: IRequestOp[] = [
        { request_delete_range: { key: kv.key } },
        { request_delete_range: { key: b(this.keys.loginToken(f.current)) } },
        { request_delete_range: { key: b(this.keys.userFamilies(f.site, f.user) + id) } },
      ];
      if (f.previous) ops.push({ request_delete_range: { key: b(this.keys.loginToken(f.previous.hash)) } });
      const t = await this.etcd.txn(
        {
          compare: [
            { key: b(fence.key), target: 'Create', result: 'Equal', create_revision: fence.incarnation },
            { key: kv.key, target: 'Mod', result: 'Equal', mod_revision: Number(kv.mod_revision) },
          ],
          success: ops,
          failure: [],
        },
        'l',
      );
      if (t.succeeded) removed++;
    }
    return removed;
  }

  async ofUser(site: string, user: string): Promise<string[]> {
    const prefix = this.keys.userFamilies(site, user);
    const r = await this.etcd.range({ key: b(prefix), range_end: prefixEnd(prefix), keys_only: true }, 'l');
    return r.kvs.map((kv) => kv.key.toString().slice(prefix.length));
  }
}
