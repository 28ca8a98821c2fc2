import type { ICompare, IRequestOp } from 'etcd3';
import { ConcurrentUpdateError, StoreQuotaExceededError } from '../../domain/errors.js';
import type { EndItem, RevokeUserOptions, StoredSession } from '../../domain/ports.js';
import type { EndReason } from '../../domain/session.js';
import type { EtcdGateway } from './client.js';
import { prefixEnd, type Keys } from './keys.js';
import type { LeaseBuckets } from './lease-buckets.js';
import { FENCED_BATCH, storedFromKv } from './session-kv.js';

const b = (s: string): Buffer => Buffer.from(s);

/** How long a revocation marker lives: far longer than any login or re-authentication txn takes. */
export const REVOCATION_MARKER_TTL_MS = 60_000;
/** Rounds of mark → list → delete before a revoke gives up with CONCURRENT_UPDATE. */
const REVOKE_ATTEMPTS = 16;

/** What revokeUserSessions needs from the session store. */
export interface RevocationContext {
  readonly etcd: EtcdGateway;
  readonly keys: Keys;
  readonly leases: LeaseBuckets;
  /** Ops that delete every key of a session and write its end event. */
  endOps(s: StoredSession, reason: EndReason): Promise<IRequestOp[]>;
  /** Told when a session ended without its event (etcd over quota). */
  onEventLost?: (reason: EndReason) => void;
}

/**
 * The compare a re-authentication or rule-checked login adds to its txn: no RevokeUserSessions of
 * that user wrote its marker after `readRevision`, the revision the txn's decision was read at.
 */
export function notRevokedSince(keys: Keys, site: string, user: string, readRevision: number): ICompare {
  return { key: b(keys.revocation(site, user)), target: 'Mod', result: 'Less', mod_revision: readRevision + 1 };
}

/**
 * Ends every session of a user at a site so that nothing escapes (issue 10 item 4). Each round
 * rewrites the user's revocation marker and lists the user index in one txn at revision M — which
 * makes every re-authentication or rule-checked login that read before M fail — then deletes the
 * listed sessions in txns that also require that no index key was created after M and that each
 * listed session still exists. A session that a racing re-authentication or login created anyway
 * fails that compare and is caught by the next round. Returns the sessions ended.
 */
export async function revokeUserSessions(ctx: RevocationContext, site: string, user: string, opts: RevokeUserOptions = {}): Promise<EndItem[]> {
  const { etcd, keys } = ctx;
  const reason = opts.reason ?? 'REVOKED';
  const prefix = keys.userSessions(site, user);
  const ended: EndItem[] = [];
  for (let attempt = 0; attempt < REVOKE_ATTEMPTS; attempt++) {
    const lease = await ctx.leases.leaseFor(REVOCATION_MARKER_TTL_MS, 1);
    const list: IRequestOp = { request_range: { key: b(prefix), range_end: prefixEnd(prefix) } };
    const mark: IRequestOp = { request_put: { key: b(keys.revocation(site, user)), value: Buffer.alloc(0), lease } };
    let marked;
    try {
      marked = await etcd.txn({ compare: [], success: [mark, list], failure: [] }, 'u');
    } catch (err) {
      // Over quota the marker cannot be written; the compare-guarded deletes below still hold.
      if (!(err instanceof StoreQuotaExceededError)) throw err;
      marked = await etcd.txn({ compare: [], success: [list], failure: [] }, 'u');
    }
    const m = Number(marked.header.revision);
    // The kept session (EndMySessions "others") is left alone; every other listed one is ended.
    const index = marked.responses[marked.responses.length - 1]!.response_range.kvs.filter((kv) => kv.key.toString().slice(prefix.length) !== opts.keep);
    if (index.length === 0) return ended;
    let clean = true;
    for (let i = 0; i < index.length && clean; i += FENCED_BATCH) {
      const hashes = index.slice(i, i + FENCED_BATCH).map((kv) => kv.key.toString().slice(prefix.length));
      const read = await etcd.txn(
        { compare: [], success: hashes.map((h) => ({ request_range: { key: b(keys.session(h)), revision: m } })), failure: [] },
        's',
      );
      const batch: StoredSession[] = [];
      read.responses.forEach((r, j) => {
        const kv = r.response_range.kvs[0];
        if (kv) batch.push(storedFromKv(hashes[j]!, kv));
      });
      const compare: ICompare[] = [
        // No login or re-authentication of this user got in since the listing.
        { key: b(prefix), range_end: prefixEnd(prefix), target: 'Create', result: 'Less', create_revision: m + 1 },
        ...batch.map((s): ICompare => ({ key: b(keys.session(s.hash)), target: 'Create', result: 'Equal', create_revision: s.incarnation })),
      ];
      const ops = (await Promise.all(batch.map((s) => ctx.endOps(s, reason)))).flat();
      let ok: boolean;
      try {
        ok = (await etcd.txn({ compare, success: ops, failure: [] }, 's')).succeeded;
      } catch (err) {
        if (!(err instanceof StoreQuotaExceededError)) throw err;
        for (const _ of batch) ctx.onEventLost?.(reason);
        ok = (await etcd.txn({ compare, success: ops.filter((op) => !op.request_put), failure: [] }, 's')).succeeded;
      }
      if (ok) ended.push(...batch.map((s) => ({ s, reason })));
      else clean = false;
    }
    if (clean) return ended;
  }
  throw new ConcurrentUpdateError();
}
