import type { SessionPolicy } from '../../domain/policy.js';
import type { Binding } from '../../domain/session.js';

/**
 * Shared values of decoded session records: the mirror holds a million records, most of them with
 * one of a handful of policies, the same few sites and devices, no bindings and no attributes, so
 * decoding returns one shared object or string for each instead of a copy per record (issue 12:
 * heap per mirrored session). Every shared value is frozen; records are never mutated in place.
 */

/** Most distinct values one table shares; past it new values are simply not shared (bounded memory). */
const MAX_SHARED = 4096;

/** A bounded table of shared values by key. */
class Table<T> {
  private readonly byKey = new Map<string, T>();

  /** The shared value for `key`, made by `make` on first sight (or fresh, once the table is full). */
  get(key: string, make: () => T): T {
    const hit = this.byKey.get(key);
    if (hit !== undefined) return hit;
    const v = make();
    if (this.byKey.size < MAX_SHARED) this.byKey.set(key, v);
    return v;
  }
}

const policies = new Table<SessionPolicy>();
const strings = new Table<string>();

/** The binding of an unbound record (no hashes, no salt), shared by every such decoded record. */
export const UNBOUND_DECODED: Binding = Object.freeze({ ipHash: '', userAgentHash: '' });

/** The attribute-name list of a record without attributes, shared. */
export const NO_ATTRIBUTES: readonly string[] = Object.freeze([]);

/** The one shared policy object equal to `p` (policies come from the cluster config: few distinct). */
export function sharedPolicy(p: SessionPolicy): SessionPolicy {
  const key = `${p.idleMs},${p.singleRequestMs},${p.absoluteMs},${p.hitMax},${p.touchGranularityMs},${p.connectionGraceMs}`;
  return policies.get(key, () => Object.freeze({ ...p }));
}

/** The one shared copy of a short, often repeated string (site, device id, lease '0'). */
export function sharedString(s: string): string {
  return s.length > 64 ? s : strings.get(s, () => s);
}
