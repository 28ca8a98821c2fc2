import type { Verdict } from '../../domain/decisions.js';
import type { SessionStore, StoredSession } from '../../domain/ports.js';
import type { EndReason } from '../../domain/session.js';
import { DEFAULT_CAS_ATTEMPTS } from '../cas-retry.js';
import { KeyedMutex } from '../keyed-mutex.js';
import type { LineageDeps } from '../lineage.js';
import { SingleFlight } from '../single-flight.js';
import { endSession } from './lifecycle.js';
import type { ServiceStats, SessionServiceDeps, SessionServiceOptions } from './types.js';

/** SessionServiceOptions with every default applied and checked. */
export interface ResolvedOptions {
  readonly nodeId: string;
  readonly idKey: Buffer | undefined;
  readonly maxCas: number;
  readonly maxExact: number;
  readonly maxPendingMisses: number;
}

/**
 * The state every session use case shares: the ports, the resolved options, the counters and the
 * per-session serialisers. One per SessionService; the use-case functions take it as first argument.
 */
export interface SessionContext {
  readonly deps: SessionServiceDeps;
  readonly options: ResolvedOptions;
  readonly stats: ServiceStats;
  /** Cache misses waiting for the mirror now (bounded by maxPendingMisses). */
  pendingMisses: number;
  /** One store end per session at a time; concurrent enders share its result. */
  readonly endings: SingleFlight<boolean>;
  /** One exact (compare-and-swapped) hit write per session at a time. */
  readonly exact: KeyedMutex;
  /** One connectionLostAt write per session at a time. */
  readonly connectionWrites: KeyedMutex;
  /** What endLineage works with: the store and this service's end bookkeeping. */
  readonly lineage: LineageDeps;
}

/** Checks the options, applies their defaults and builds the shared context. */
export function createContext(deps: SessionServiceDeps, options: SessionServiceOptions): SessionContext {
  if (!options.nodeId) throw new Error('session-service: nodeId is required');
  const maxCas = options.maxCasAttempts ?? DEFAULT_CAS_ATTEMPTS;
  if (!(maxCas >= 1)) throw new Error('session-service: maxCasAttempts must be at least 1');
  const maxExact = options.maxExactAttempts ?? 64;
  if (!(maxExact >= 1)) throw new Error('session-service: maxExactAttempts must be at least 1');
  const maxPendingMisses = options.maxPendingMisses ?? 10_000;
  if (!(maxPendingMisses >= 1)) throw new Error('session-service: maxPendingMisses must be at least 1');
  const ctx: SessionContext = {
    deps,
    options: { nodeId: options.nodeId, idKey: options.idKey, maxCas, maxExact, maxPendingMisses },
    stats: {
      cacheHits: 0,
      cacheMisses: 0,
      verdicts: { VALID: 0, NOT_FOUND: 0, EXPIRED: 0, REAUTH_REQUIRED: 0, HIT_LIMIT: 0, BINDING_MISMATCH: 0 },
      created: 0,
      ended: {},
    },
    pendingMisses: 0,
    endings: new SingleFlight<boolean>(),
    exact: new KeyedMutex(),
    connectionWrites: new KeyedMutex(),
    lineage: {
      store: (): SessionStore => deps.store,
      end: (s: StoredSession, reason: EndReason): Promise<boolean> => endSession(ctx, s, reason),
      now: (): number => deps.clock.now(),
    },
  };
  return ctx;
}

/** Counts a verdict (stats and the 'verdict' event) and returns it. */
export function count(ctx: SessionContext, verdict: Verdict): Verdict {
  ctx.stats.verdicts[verdict]++;
  ctx.deps.events?.emit('verdict', verdict);
  return verdict;
}
