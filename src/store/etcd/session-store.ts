import type { ICompare, IRequestOp } from 'etcd3';
import { StoreQuotaExceededError } from '../../domain/errors.js';
import type {
  AttributeCondition,
  CasResult,
  EndItem,
  Fence,
  FencedResult,
  LoginRequest,
  RevokeUserOptions,
  SessionStore,
  StoredAttribute,
  StoredSession,
} from '../../domain/ports.js';
import type { EndReason, SessionRecord } from '../../domain/session.js';
import { EtcdAttributeStore } from './attribute-store.js';
import type { EtcdGateway } from './client.js';
import { decodeAttribute, encodeSession } from './codec.js';
import { prefixEnd, type Keys } from './keys.js';
import type { LeaseBuckets } from './lease-buckets.js';
import { EtcdLoginFamilyStore } from './login-family-store.js';
import { LoginTxn } from './login-txn.js';
import { revokeUserSessions, notRevokedSince } from './revocation.js';
import { currentFrom, FENCED_BATCH, SessionKv, storedFromKv, type SessionKvOptions } from './session-kv.js';
import type { TxnBatcher } from './txn-batcher.js';


const b = (s: string): Buffer => Buffer.from(s);

/** Options of EtcdSessionStore (see SessionKvOptions). */
export type EtcdSessionStoreOptions = SessionKvOptions;

/**
 * EtcdSessionStore keeps sessions in etcd (ARCHITECTURE decisions 1 and 2): one record per session
 * keyed by the id's hash, attributes and the user index beside it, all on one bucketed lease, every
 * write a single txn guarded by revision compares so nothing is ever half-written. It implements the
 * SessionStore port; logins (login-txn.ts) and attributes (attribute-store.ts) are delegated around
 * the shared SessionKv context.
 */
export class EtcdSessionStore implements SessionStore {
  private readonly kv: SessionKv;
  private readonly loginTxn: LoginTxn;
  private readonly attributes: EtcdAttributeStore;

  /** The persistent-login token families (SPEC rule 19); their writes ride in login txns. */
  readonly families: EtcdLoginFamilyStore;

  /** Group-commits logins that look at no other session (most of them) into shared txns. */
  readonly logins: TxnBatcher;

  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly leases: LeaseBuckets,
    private readonly options: EtcdSessionStoreOptions,
  ) {
    this.kv = new SessionKv(etcd, keys, leases, options);
    this.families = new EtcdLoginFamilyStore(etcd, keys, leases);
    this.loginTxn = new LoginTxn(this.kv, this.families);
    this.logins = this.loginTxn.batcher;
    this.attributes = new EtcdAttributeStore(this.kv);
  }

  login(req: LoginRequest): Promise<{ session: StoredSession; ended: readonly EndItem[] }> {
    return this.loginTxn.login(req);
  }

  async end(s: StoredSession, reason: EndReason): Promise<boolean> {
    const compare: ICompare[] = [{ key: b(this.keys.session(s.hash)), target: 'Create', result: 'Equal', create_revision: s.incarnation }];
    const ops = await this.kv.endOps(s, reason);
    try {
      return (await this.etcd.txn({ compare, success: ops, failure: [] }, 's')).succeeded;
    } catch (err) {
      // Over its space quota etcd refuses any txn that puts, but still deletes. Ending a session is a
      // security action (logout, revoke): it must not wait for an operator, so it goes through
      // without its event, which is reported instead (counted as events lost).
      if (!(err instanceof StoreQuotaExceededError)) throw err;
      this.options.onEventLost?.(reason);
      return (await this.etcd.txn({ compare, success: ops.filter((op) => !op.request_put), failure: [] }, 's')).succeeded;
    }
  }

  async endFenced(items: readonly EndItem[], fence: Fence): Promise<FencedResult> {
    const ended: EndItem[] = [];
    let changed = 0;
    for (let i = 0; i < items.length; i += FENCED_BATCH) {
      const batch = items.slice(i, i + FENCED_BATCH);
      // One outer txn fenced on leadership; each session a nested txn guarded by its mod revision, so a
      // session touched a moment ago survives without failing the rest of the batch.
      const nested: IRequestOp[] = [];
      for (const it of batch) {
        nested.push({
          request_txn: {
            compare: [{ key: b(this.keys.session(it.s.hash)), target: 'Mod', result: 'Equal', mod_revision: it.s.version }],
            success: await this.kv.endOps(it.s, it.reason),
            failure: [],
          },
        });
      }
      const r = await this.etcd.txn(
        {
          compare: [{ key: b(fence.key), target: 'Create', result: 'Equal', create_revision: fence.incarnation }],
          success: nested,
          failure: [],
        },
        's',
      );
      if (!r.succeeded) return { ended, changed, fencedOut: true };
      batch.forEach((it, j) => {
        if (r.responses[j]?.response_txn?.succeeded) ended.push(it);
        else changed++;
      });
    }
    return { ended, changed, fencedOut: false };
  }

  async reauthenticate(old: StoredSession, newHash: string, next: SessionRecord, ttlMs: number): Promise<StoredSession | null> {
    const attrsPrefix = this.keys.attributes(old.hash);
    const read = await this.etcd.range({ key: b(attrsPrefix), range_end: prefixEnd(attrsPrefix) }, 'a');
    const rev = Number(read.header.revision);
    const attrs: Array<[string, Uint8Array]> = [];
    const etags = new Map<string, string>();
    for (const kv of read.kvs) {
      const name = decodeURIComponent(kv.key.toString().slice(attrsPrefix.length));
      const a = decodeAttribute(kv.value);
      attrs.push([name, a.value]);
      etags.set(name, a.etag);
    }
    const attributeNames = attrs.map(([n]) => n);
    const rec: SessionRecord = { ...next, attributeNames };
    return this.kv.withLease(ttlMs, 2 + attrs.length, async (lease) => {
      const endOps = await this.kv.endOps(old, 'LOGGED_OUT');
      endOps.pop(); // the REAUTHENTICATED event below replaces the ENDED one
      const r = await this.etcd.txn(
        {
          compare: [
            { key: b(this.keys.session(old.hash)), target: 'Mod', result: 'Equal', mod_revision: old.version },
            // No attribute changed since they were copied.
            { key: b(attrsPrefix), range_end: prefixEnd(attrsPrefix), target: 'Mod', result: 'Less', mod_revision: rev + 1 },
            { key: b(this.keys.session(newHash)), target: 'Create', result: 'Equal', create_revision: 0 },
            // No RevokeUserSessions of this user since the read: a revoke must not be escaped.
            notRevokedSince(this.keys, old.rec.site, old.rec.user, rev),
          ],
          success: [
            ...endOps,
            ...this.kv.createOps(newHash, rec, attrs, etags, lease),
            // A revoke or logout that still names the old session follows this to the new one.
            { request_put: { key: b(this.keys.successor(old.hash)), value: b(`${newHash} ${rec.lastAccessAt}`), lease: await this.leases.leaseFor(this.options.eventRetentionMs(), 1) } },
            await this.kv.eventOp({
              type: 'REAUTHENTICATED',
              site: rec.site,
              user: rec.user,
              clientType: rec.clientType,
              sessionRef: old.hash,
              successorRef: newHash,
            }),
          ],
          failure: [],
        },
        's',
      );
      if (!r.succeeded) return null;
      const rev2 = Number(r.header.revision);
      return { hash: newHash, rec, version: rev2, incarnation: rev2, storeTag: lease };
    });
  }

  async revokeUser(site: string, user: string, opts: RevokeUserOptions = {}): Promise<EndItem[]> {
    return revokeUserSessions(
      {
        etcd: this.etcd,
        keys: this.keys,
        leases: this.leases,
        endOps: (s, r) => this.kv.endOps(s, r),
        ...(this.options.onEventLost ? { onEventLost: this.options.onEventLost } : {}),
      },
      site,
      user,
      opts,
    );
  }

  async getOrSuccessor(hash: string): Promise<{ session: StoredSession | null; successor: string | null; successorAt: number }> {
    const r = await this.etcd.txn(
      { compare: [], success: [{ request_range: { key: b(this.keys.session(hash)) } }, { request_range: { key: b(this.keys.successor(hash)) } }], failure: [] },
      's',
    );
    const kv = r.responses[0]!.response_range.kvs[0];
    const next = r.responses[1]!.response_range.kvs[0];
    // The pointer's value is `<new hash>` or `<new hash> <wall ms when written>`.
    const [successor, at] = next ? next.value.toString().split(' ') : [];
    return { session: kv ? storedFromKv(hash, kv) : null, successor: successor || null, successorAt: Number(at ?? 0) || 0 };
  }

  async userSessions(site: string, user: string): Promise<string[]> {
    const prefix = this.keys.userSessions(site, user);
    const r = await this.etcd.range({ key: b(prefix), range_end: prefixEnd(prefix), keys_only: true }, 'u');
    return r.kvs.map((kv) => kv.key.toString().slice(prefix.length));
  }

  async get(hash: string): Promise<{ session: StoredSession | null; revision: number }> {
    const r = await this.etcd.range({ key: b(this.keys.session(hash)) }, 's');
    const kv = r.kvs[0];
    return { session: kv ? storedFromKv(hash, kv) : null, revision: Number(r.header.revision) };
  }

  async update(prev: StoredSession, next: SessionRecord, ttlMs: number): Promise<CasResult> {
    const key = this.keys.session(prev.hash);
    const value = Buffer.from(encodeSession(next));
    const keyCount = 2 + prev.rec.attributeNames.length;
    return this.kv.withLease(ttlMs, keyCount, async (lease) => {
      const ops: IRequestOp[] = [];
      if (lease === prev.storeTag) {
        ops.push({ request_put: { key: b(key), value, ignore_lease: true } });
      } else {
        // Move every key of the session to the new lease so etcd removes them together.
        ops.push({ request_put: { key: b(key), value, lease } });
        ops.push({ request_put: { key: b(this.keys.userIndex(prev.rec.site, prev.rec.user, prev.hash)), ignore_value: true, lease } });
        // Presence keys stay on their node's lease: they must vanish with the node.
        for (const name of prev.rec.attributeNames) {
          ops.push({ request_put: { key: b(this.keys.attribute(prev.hash, name)), ignore_value: true, lease } });
        }
      }
      const r = await this.etcd.txn(
        {
          compare: [{ key: b(key), target: 'Mod', result: 'Equal', mod_revision: prev.version }],
          success: ops,
          failure: [{ request_range: { key: b(key) } }],
        },
        's',
      );
      if (!r.succeeded) return { ok: false, current: currentFrom(prev.hash, r) };
      const rev = Number(r.header.revision);
      return { ok: true, session: { ...prev, rec: next, version: rev, storeTag: lease } };
    });
  }

  async setConnectionLost(s: StoredSession, at: number): Promise<StoredSession | null> {
    // The record only: it keeps its lease (a connection change is not a touch).
    const r = await this.etcd.txn(
      {
        compare: [{ key: b(this.keys.session(s.hash)), target: 'Mod', result: 'Equal', mod_revision: s.version }],
        success: [{ request_put: { key: b(this.keys.session(s.hash)), value: Buffer.from(encodeSession({ ...s.rec, connectionLostAt: at })), ignore_lease: true } }],
        failure: [],
      },
      's',
    );
    return r.succeeded ? { ...s, rec: { ...s.rec, connectionLostAt: at }, version: Number(r.header.revision) } : null;
  }

  getAttribute(hash: string, name: string): Promise<StoredAttribute | null> {
    return this.attributes.getAttribute(hash, name);
  }

  setAttribute(s: StoredSession, name: string, value: Uint8Array, etag: string, cond: AttributeCondition): Promise<CasResult> {
    return this.attributes.setAttribute(s, name, value, etag, cond);
  }

  deleteAttribute(s: StoredSession, name: string, cond: AttributeCondition): Promise<CasResult> {
    return this.attributes.deleteAttribute(s, name, cond);
  }
}
