import { randomBytes } from 'node:crypto';
import type { IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { currentCaller } from '../../auth/caller-context.js';
import type { Clock } from '../../domain/clock.js';
import type { SessionEvent } from '../../domain/events.js';
import type { StoredSession } from '../../domain/ports.js';
import type { EndReason, SessionRecord } from '../../domain/session.js';
import type { EtcdGateway } from './client.js';
import { decodeSession, encodeAttribute, encodeEvent, encodeIndexEntry, encodeSession } from './codec.js';
import { LeaseGoneError } from './errors.js';
import { sharedString } from './interned.js';
import { prefixEnd, type Keys } from './keys.js';
import type { LeaseBuckets } from './lease-buckets.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Most sessions ended by one fenced txn: 5 ops each stays under etcd's default --max-txn-ops (128). */
export const FENCED_BATCH = 24;

/** Options shared by the session store's parts (login, lifecycle, attributes). */
export interface SessionKvOptions {
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

/** The session a failed compare-and-swap txn read back in its failure branch (range of the record first), or null. */
export function currentFrom(hash: string, r: ITxnResponse): StoredSession | null {
  const kv = r.responses[0]?.response_range?.kvs[0];
  return kv ? storedFromKv(hash, kv) : null;
}

/**
 * SessionKv is the small context every part of the etcd session store shares: the gateway, the key
 * layout, the lease buckets, and the op builders for a session's keys (record, user index,
 * attributes, presence) and its lifecycle events, so each write is assembled the same way everywhere.
 */
export class SessionKv {
  constructor(
    /** The etcd gateway (deadlines, error mapping). */
    readonly etcd: EtcdGateway,
    /** The key layout. */
    readonly keys: Keys,
    /** The bucketed leases sessions and events live on. */
    readonly leases: LeaseBuckets,
    /** Shared options. */
    readonly options: SessionKvOptions,
  ) {}

  /** An op that writes one lifecycle event under the retention lease. */
  async eventOp(e: Omit<SessionEvent, 'time'>): Promise<IRequestOp> {
    const lease = await this.leases.leaseFor(this.options.eventRetentionMs(), 1);
    const id = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(6).toString('base64url')}`;
    return { request_put: { key: b(this.keys.event(id)), value: Buffer.from(encodeEvent({ ...e, time: this.options.clock.now(), caller: currentCaller() })), lease } };
  }

  /** Ops that delete every key of a session and record why it ended (the event op is last). */
  async endOps(s: StoredSession, reason: EndReason, successorRef?: string): Promise<IRequestOp[]> {
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
  createOps(hash: string, rec: SessionRecord, attrs: Iterable<[string, Uint8Array]>, etags: ReadonlyMap<string, string>, lease: string): IRequestOp[] {
    const ops: IRequestOp[] = [
      { request_put: { key: b(this.keys.session(hash)), value: Buffer.from(encodeSession(rec)), lease } },
      { request_put: { key: b(this.keys.userIndex(rec.site, rec.user, hash)), value: Buffer.from(encodeIndexEntry(rec)), lease } },
    ];
    for (const [name, v] of attrs) {
      ops.push({ request_put: { key: b(this.keys.attribute(hash, name)), value: Buffer.from(encodeAttribute(v, etags.get(name) ?? '')), lease } });
    }
    return ops;
  }

  /** Runs `fn` with a lease for `keys` keys; if etcd says the lease vanished, retries once with a fresh one. */
  async withLease<T>(ttlMs: number, keys: number, fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = await this.leases.leaseFor(ttlMs, keys);
    try {
      return await fn(lease);
    } catch (err) {
      if (!(err instanceof LeaseGoneError)) throw err;
      this.leases.forget(lease);
      return fn(await this.leases.leaseFor(ttlMs, keys));
    }
  }
}
