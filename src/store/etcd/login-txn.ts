import type { ICompare, IRequestOp } from 'etcd3';
import { ConcurrentUpdateError, SessionLimitReachedError } from '../../domain/errors.js';
import { LoginFamilyChangedError } from '../../domain/login-family.js';
import type { ExistingSession } from '../../domain/login.js';
import type { EndItem, LoginRequest, StoredSession } from '../../domain/ports.js';
import { decodeIndexEntry } from './codec.js';
import { prefixEnd } from './keys.js';
import type { EtcdLoginFamilyStore } from './login-family-store.js';
import { notRevokedSince } from './revocation.js';
import { storedFromKv, type SessionKv } from './session-kv.js';
import { TxnBatcher } from './txn-batcher.js';

const b = (s: string): Buffer => Buffer.from(s);

/** Attempts of a login against racing logins of the same user before CONCURRENT_UPDATE. */
const LOGIN_ATTEMPTS = 16;

/** What a stored login returns: the new session and the sessions its rules ended. */
export interface LoginOutcome {
  readonly session: StoredSession;
  readonly ended: readonly EndItem[];
}

/**
 * LoginTxn writes a login (SPEC rules 6–9, 19) in one of two ways: a login no per-user rule looks at
 * is one blind create, group-committed with concurrent ones; any other reads the user's sessions at
 * one revision, lets the domain plan decide, and commits only if nothing it read changed.
 */
export class LoginTxn {
  /** Group-commits logins that look at no other session (most of them) into shared txns. */
  readonly batcher: TxnBatcher;

  constructor(
    private readonly kv: SessionKv,
    private readonly families: EtcdLoginFamilyStore,
  ) {
    this.batcher = new TxnBatcher((req) => kv.etcd.txn(req, 's'), { follow: (wait) => kv.etcd.traced('txn', 's', wait) });
  }

  /** Applies the login rules and writes the new session atomically; retries races, then CONCURRENT_UPDATE. */
  async login(req: LoginRequest): Promise<LoginOutcome> {
    if (!req.userRules && req.maxSessions === 0 && !req.token) return this.blind(req);
    return this.checked(req);
  }

  /**
   * No rule looks at other sessions: one transaction (shared with concurrent logins), no reads — the
   * common case for api, mobile…
   */
  private async blind(req: LoginRequest): Promise<LoginOutcome> {
    const { rec } = req;
    const { kv } = this;
    const created = await kv.withLease(req.ttlMs, 2 + req.attributes.size, async (lease) => {
      const r = await this.batcher.submit(
        [{ key: b(kv.keys.session(req.hash)), target: 'Create', result: 'Equal', create_revision: 0 }],
        [
          ...kv.createOps(req.hash, rec, req.attributes, req.etags, lease),
          { request_put: { key: b(kv.keys.lastCreate()), value: Buffer.alloc(0) } },
          await kv.eventOp({ type: 'CREATED', site: rec.site, user: rec.user, clientType: rec.clientType, sessionRef: req.hash }),
        ],
      );
      if (!r.succeeded) throw new ConcurrentUpdateError();
      const rev = r.revision;
      return { hash: req.hash, rec, version: rev, incarnation: rev, storeTag: lease };
    });
    return { session: created, ended: [] };
  }

  /** Reads the user's sessions at one revision, plans, and commits guarded by compares on all it read. */
  private async checked(req: LoginRequest): Promise<LoginOutcome> {
    const { rec } = req;
    const { kv } = this;
    const indexPrefix = kv.keys.userSessions(rec.site, rec.user);
    for (let attempt = 0; attempt < LOGIN_ATTEMPTS; attempt++) {
      // Phase 1: one consistent snapshot of the user's index, the create marker and the session count.
      const snap = await kv.etcd.txn(
        {
          compare: [],
          success: [
            { request_range: { key: b(indexPrefix), range_end: prefixEnd(indexPrefix) } },
            { request_range: { key: b(kv.keys.lastCreate()) } },
            ...(req.maxSessions > 0
              ? [{ request_range: { key: b(kv.keys.sessionCountStart()), range_end: prefixEnd(kv.keys.sessions()), count_only: true } }]
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
        indexKvs.map(async (ikv) => {
          const hash = ikv.key.toString().slice(indexPrefix.length);
          const entry = decodeIndexEntry(ikv.value);
          if (!entry) return;
          const presence = kv.keys.presence(hash);
          const r = await kv.etcd.txn(
            {
              compare: [],
              success: [
                { request_range: { key: b(kv.keys.session(hash)), revision: rev } },
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
        { key: b(kv.keys.session(req.hash)), target: 'Create', result: 'Equal', create_revision: 0 },
        // No RevokeUserSessions of this user since the snapshot.
        notRevokedSince(kv.keys, rec.site, rec.user, rev),
      ];
      if (req.maxSessions > 0) compare.push({ key: b(kv.keys.lastCreate()), target: 'Mod', result: 'Equal', mod_revision: lastCreateMod });
      const ops: IRequestOp[] = [];
      if (req.token) {
        // The token family is spent/rotated (or issued) in the same txn as the session it creates.
        const fw = await this.families.writeOps(req.token, kv.options.clock.now());
        compare.push(...fw.compare);
        ops.push(...fw.ops);
      }
      for (const e of toEnd) {
        compare.push({ key: b(kv.keys.session(e.hash)), target: 'Create', result: 'Equal', create_revision: e.s!.incarnation });
        if (!e.present) {
          // Replacing requires that no presence appeared meanwhile (SPEC rule 7).
          const presence = kv.keys.presence(e.hash);
          compare.push({ key: b(presence), range_end: prefixEnd(presence), target: 'Version', result: 'Equal', version: 0 });
        }
        ops.push(...(await kv.endOps(e.s!, e.reason, req.hash)));
      }
      const created = await kv.withLease(req.ttlMs, 2 + req.attributes.size, async (lease) => {
        const r = await kv.etcd.txn(
          {
            compare,
            success: [
              ...ops,
              ...kv.createOps(req.hash, rec, req.attributes, req.etags, lease),
              { request_put: { key: b(kv.keys.lastCreate()), value: Buffer.alloc(0) } },
              await kv.eventOp({
                type: 'CREATED',
                site: rec.site,
                user: rec.user,
                clientType: rec.clientType,
                sessionRef: req.hash,
                ...(req.token ? { login: req.token.expectMod === 0 ? ('ISSUED' as const) : ('RESUMED' as const), loginFamily: req.token.familyId } : {}),
              }),
            ],
            failure: req.token ? [{ request_range: { key: b(kv.keys.loginFamily(req.token.familyId)) } }] : [],
          },
          's',
        );
        if (!r.succeeded) {
          if (req.token) {
            const fkv = r.responses[0]?.response_range?.kvs[0];
            if (Number(fkv?.mod_revision ?? 0) !== req.token.expectMod) throw new LoginFamilyChangedError();
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
}
