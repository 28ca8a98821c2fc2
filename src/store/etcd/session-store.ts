import { randomBytes } from 'node:crypto';
import { sharedString } from './interned.js';
import type { ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import type { Clock } from '../../domain/clock.js';
import {
  AttributeExistsError,
  AttributeNotFoundError,
  ConcurrentUpdateError,
  EtagMismatchError,
  SessionLimitReachedError,
  StoreQuotaExceededError,
} from '../../domain/errors.js';
import { currentCaller } from '../../auth/caller-context.js';
import type { SessionEvent } from '../../domain/events.js';
import type { ExistingSession } from '../../domain/login.js';
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
import type { EtcdGateway } from './client.js';
import {
  decodeAttribute,
  decodeIndexEntry,
  decodeSession,
  encodeAttribute,
  encodeEvent,
  encodeIndexEntry,
  encodeSession,
} from './codec.js';
import { LeaseGoneError } from './errors.js';
import { prefixEnd, type Keys } from './keys.js';
import { TxnBatcher } from './txn-batcher.js';
import { notRevokedSince, revokeUserSessions } from './revocation.js';
import type { LeaseBuckets } from './lease-buckets.js';
import { EtcdLoginFamilyStore } from './login-family-store.js';
import { LoginFamilyChangedError } from '../../domain/login-family.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Most sessions ended by one fenced txn: 5 ops each stays under etcd's default --max-txn-ops (128). */
export const FENCED_BATCH = 24;
/** Attempts of a login against racing logins of the same user before CONCURRENT_UPDATE. */
const LOGIN_ATTEMPTS = 16;

/** Options of EtcdSessionStore. */
export interface EtcdSessionStoreOptions {
  /** How long lifecycle events are kept (read at every write, so config reloads apply). Required. */
  eventRetentionMs: () => number;
  clock: Clock;
  /** Told when a session ended without its event (etcd over quota). */
  onEventLost?: (reason: EndReason) => void;
}

/** Builds a StoredSession from an etcd key-value of a session record. */
export function storedFromKv(hash: string, kv: IKeyValue): StoredSession {
  return {
    hash,
    rec: decodeSession(kv.value),
    version: Number(kv.mod_revision),
    incarnation: Number(kv.create_revision),
    storeTag: sharedString(String(kv.lease ?? '0')),
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
    private readonly options: EtcdSessionStoreOptions,
  ) {
    this.logins = new TxnBatcher((req) => this.etcd.txn(req, 's'), { follow: (wait) => this.etcd.traced('txn', 's', wait) });
    this.families = new EtcdLoginFamilyStore(etcd, keys, leases);
  }

  /** The persistent-login token families (SPEC rule 19); their writes ride in login txns. */
  readonly families: EtcdLoginFamilyStore;

  /** Group-commits logins that look at no other session (most of them) into shared txns. */
  readonly logins: TxnBatcher;

  /** An op that writes one lifecycle event under the retention lease. */
  private async eventOp(e: Omit<SessionEvent, 'time'>): Promise<IRequestOp> {
    const lease = await this.leases.leaseFor(this.options.eventRetentionMs(), 1);
    const id = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('base64url')}`;
    return { request_put: { key: b(this.keys.event(id)), value: Buffer.from(encodeEvent({ ...e, time: this.options.clock.now(), caller: currentCaller() })), lease } };
  }

  /** Ops that delete every key of a session and record why it ended. */
  private async endOps(s: StoredSession, reason: EndReason, successorRef?: string): Promise<IRequestOp[]> {
    const attrs = this.keys.attributes(s.hash);
    const presence = this.keys.presence(s.hash);
    return [
      { request_delete_range: { key: b(this.keys.session(s.hash)) } },
      { request_delete_range: { key: b(attrs), range_end: prefixEnd(attrs) } },
      { request_delete_range: { key: b(this.keys.userIndex(s.rec.site, s.rec.user, s.hash)) } },
      { request_delete_range: { key: b(presence), range_end: prefixEnd(presence) } },
      await this.eventOp({
        type: reason === 'REPLACED' ? 'REPLACED' : 'ENDED',
        endReason: reason,
        site: s.rec.site,
        user: s.rec.user,
        clientType: s.rec.clientType,
        sessionRef: s.hash,
        ...(successorRef ? { successorRef } : {}),
        ...(s.rec.loginFamily ? { loginFamily: s.rec.loginFamily } : {}),
      }),
    ];
  }

  /** Ops that write a new session's keys (record, user index, attributes) on one lease. */
  private createOps(hash: string, rec: SessionRecord, attrs: Iterable<[string, Uint8Array]>, etags: ReadonlyMap<string, string>, lease: string): IRequestOp[] {
    const ops: IRequestOp[] = [
      { request_put: { key: b(this.keys.session(hash)), value: Buffer.from(encodeSession(rec)), lease } },
      { request_put: { key: b(this.keys.userIndex(rec.site, rec.user, hash)), value: Buffer.from(encodeIndexEntry(rec)), lease } },
    ];
    for (const [name, v] of attrs) {
      ops.push({ request_put: { key: b(this.keys.attribute(hash, name)), value: Buffer.from(encodeAttribute(v, etags.get(name) ?? '')), lease } });
    }
    return ops;
  }

  async login(req: LoginRequest): Promise<{ session: StoredSession; ended: readonly EndItem[] }> {
    const { rec } = req;
    if (!req.userRules && req.maxSessions === 0 && !req.token) {
      // No rule looks at other sessions: one transaction (shared with concurrent logins), no reads —
      // the common case for api, mobile…
      const created = await this.withLease(req.ttlMs, 2 + req.attributes.size, async (lease) => {
        const r = await this.logins.submit(
          [{ key: b(this.keys.session(req.hash)), target: 'Create', result: 'Equal', create_revision: 0 }],
          [
            ...this.createOps(req.hash, rec, req.attributes, req.etags, lease),
            { request_put: { key: b(this.keys.lastCreate()), value: Buffer.alloc(0) } },
            await this.eventOp({ type: 'CREATED', site: rec.site, user: rec.user, clientType: rec.clientType, sessionRef: req.hash }),
          ],
        );
        if (!r.succeeded) throw new ConcurrentUpdateError();
        const rev = r.revision;
        return { hash: req.hash, rec, version: rev, incarnation: rev, storeTag: lease };
      });
      return { session: created, ended: [] };
    }
    const indexPrefix = this.keys.userSessions(rec.site, rec.user);
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS; attempt++) {
      // Phase 1: one consistent snapshot of the user's index, the create marker and the session count.
      const snap = await this.etcd.txn(
        {
          compare: [],
          success: [
            { request_range: { key: b(indexPrefix), range_end: prefixEnd(indexPrefix) } },
            { request_range: { key: b(this.keys.lastCreate()) } },
            ...(req.maxSessions > 0
              ? [{ request_range: { key: b(this.keys.sessionCountStart()), range_end: prefixEnd(this.keys.sessions()), count_only: true } }]
              : []),
          ],
          failure: [],
        },
        'u',
      );
      const rev = Number(snap.header.revision);
      const indexKvs = snap.responses[0]!.response_range.kvs;
      const lastCreateMod = Number(snap.responses[1]!.response_range.kvs[0]?.mod_revision ?? 0);
      const count = req.maxSessions > 0 ? Number(snap.responses[2]!.response_range.count) : 0;

      // Phase 2: each existing session's record and presence, at the same revision.
      const existing: Array<ExistingSession & { s: StoredSession | null }> = [];
      await Promise.all(
        indexKvs.map(async (kv) => {
          const hash = kv.key.toString().slice(indexPrefix.length);
          const entry = decodeIndexEntry(kv.value);
          if (!entry) return;
          const presence = this.keys.presence(hash);
          const r = await this.etcd.txn(
            {
              compare: [],
              success: [
                { request_range: { key: b(this.keys.session(hash)), revision: rev } },
                { request_range: { key: b(presence), range_end: prefixEnd(presence), count_only: true, revision: rev } },
              ],
              failure: [],
            },
            'u',
          );
          const recKv = r.responses[0]!.response_range.kvs[0];
          existing.push({
            hash,
            clientType: entry.clientType,
            deviceId: entry.deviceId,
            createdAt: entry.createdAt,
            present: Number(r.responses[1]!.response_range.count) > 0,
            s: recKv ? storedFromKv(hash, recKv) : null,
          });
        }),
      );
      const plan = req.plan(existing.filter((e) => e.s));
      if (plan.kind === 'refuse') throw plan.error;
      const toEnd = plan.end.map((p) => ({ ...existing.find((e) => e.hash === p.hash)!, reason: p.reason }));
      if (req.maxSessions > 0 && count - toEnd.length + 1 > req.maxSessions) throw new SessionLimitReachedError(req.maxSessions);

      const compare: ICompare[] = [
        // No login of this user got in since the snapshot (index keys are only ever created by logins).
        { key: b(indexPrefix), range_end: prefixEnd(indexPrefix), target: 'Create', result: 'Less', create_revision: rev + 1 },
        { key: b(this.keys.session(req.hash)), target: 'Create', result: 'Equal', create_revision: 0 },
        // No RevokeUserSessions of this user since the snapshot.
        notRevokedSince(this.keys, rec.site, rec.user, rev),
      ];
      if (req.maxSessions > 0) compare.push({ key: b(this.keys.lastCreate()), target: 'Mod', result: 'Equal', mod_revision: lastCreateMod });
      const ops: IRequestOp[] = [];
      if (req.token) {
        // The token family is spent/rotated (or issued) in the same txn as the session it creates.
        const fw = await this.families.writeOps(req.token, this.options.clock.now());
        compare.push(...fw.compare);
        ops.push(...fw.ops);
      }
      for (const e of toEnd) {
        compare.push({ key: b(this.keys.session(e.hash)), target: 'Create', result: 'Equal', create_revision: e.s!.incarnation });
        if (!e.present) {
          // Replacing requires that no presence appeared meanwhile (SPEC rule 7).
          const presence = this.keys.presence(e.hash);
          compare.push({ key: b(presence), range_end: prefixEnd(presence), target: 'Version', result: 'Equal', version: 0 });
        }
        ops.push(...(await this.endOps(e.s!, e.reason, req.hash)));
      }
      const created = await this.withLease(req.ttlMs, 2 + req.attributes.size, async (lease) => {
        const r = await this.etcd.txn(
          {
            compare,
            success: [
              ...ops,
              ...this.createOps(req.hash, rec, req.attributes, req.etags, lease),
              { request_put: { key: b(this.keys.lastCreate()), value: Buffer.alloc(0) } },
              await this.eventOp({
                type: 'CREATED',
                site: rec.site,
                user: rec.user,
                clientType: rec.clientType,
                sessionRef: req.hash,
                ...(req.token ? { login: req.token.expectMod === 0 ? ('ISSUED' as const) : ('RESUMED' as const), loginFamily: req.token.familyId } : {}),
              }),
            ],
            failure: req.token ? [{ request_range: { key: b(this.keys.loginFamily(req.token.familyId)) } }] : [],
          },
          's',
        );
        if (!r.succeeded) {
          if (req.token) {
            const kv = r.responses[0]?.response_range?.kvs[0];
            if (Number(kv?.mod_revision ?? 0) !== req.token.expectMod) throw new LoginFamilyChangedError();
          }
          return null;
        }
        const rev2 = Number(r.header.revision);
        return { hash: req.hash, rec, version: rev2, incarnation: rev2, storeTag: lease };
      });
      if (created) return { session: created, ended: toEnd.map((e) => ({ s: e.s!, reason: e.reason })) };
    }
    throw new ConcurrentUpdateError();
  }

  async end(s: StoredSession, reason: EndReason): Promise<boolean> {
    const compare: ICompare[] = [{ key: b(this.keys.session(s.hash)), target: 'Create', result: 'Equal', create_revision: s.incarnation }];
    const ops = await this.endOps(s, reason);
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
            success: await this.endOps(it.s, it.reason),
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
    return this.withLease(ttlMs, 2 + attrs.length, async (lease) => {
      const endOps = await this.endOps(old, 'LOGGED_OUT');
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
            ...this.createOps(newHash, rec, attrs, etags, lease),
            // A revoke or logout that still names the old session follows this to the new one.
            { request_put: { key: b(this.keys.successor(old.hash)), value: b(`${newHash} ${rec.lastAccessAt}`), lease: await this.leases.leaseFor(this.options.eventRetentionMs(), 1) } },
            await this.eventOp({
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
        endOps: (s, r) => this.endOps(s, r),
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
      if (!r.succeeded) return { ok: false, current: this.currentFrom(prev.hash, r) };
      const rev = Number(r.header.revision);
      return { ok: true, session: { ...prev, rec: next, version: rev, lease } };
    });
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
      { request_put: { key: b(this.keys.attribute(s.hash, name)), value: Buffer.from(encodeAttribute(value, etag)), lease: s.storeTag } },
    ];
    if (isNew) success.push({ request_put: { key: b(key), value: Buffer.from(encodeSession(next)), ignore_lease: true } });
    const r = await this.etcd.txn(
      {
        compare: [
          isNew
            ? { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.version }
            : { key: b(key), target: 'Create', result: 'Equal', create_revision: s.incarnation },
          { key: b(key), target: 'Lease', result: 'Equal', lease: s.storeTag },
          { key: b(this.keys.attribute(s.hash, name)), target: 'Mod', result: 'Equal', mod_revision: mod },
        ],
        success,
        failure: [{ request_range: { key: b(key) } }],
      },
      'a',
    );
    if (!r.succeeded) return { ok: false, current: this.currentFrom(s.hash, r) };
    const rev = Number(r.header.revision);
    return { ok: true, session: isNew ? { ...s, rec: next, version: rev } : s };
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
          { key: b(key), target: 'Mod', result: 'Equal', mod_revision: s.version },
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
    return { ok: true, session: { ...s, rec: next, version: Number(r.header.revision) } };
  }
}
