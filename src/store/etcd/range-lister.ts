import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import { prefixEnd, prefixEndOf } from './keys.js';

/** The characters keys are split on: base64url, the alphabet of every hashed key, in byte order. */
const SPLIT_CHARS = [...'-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz'].sort();
const ZERO = Buffer.from([0]);

/** Options of listPrefix. */
export interface ListPrefixOptions {
  /** Keys per range request. Required, > 0. */
  pageSize: number;
  /** Revision to read at; 0 reads at the current revision and pins it for every later page. */
  revision: number;
  /** Remaining keys above which a range is split into sub-ranges. Default 4 × pageSize. */
  splitAbove?: number;
}

/** A key range [from, to); when `base` is set, every key in it starts with `base`, so it can be split. */
interface Span {
  from: Buffer;
  to: Buffer;
  base?: Buffer;
}

/**
 * Lists every key under `prefix` at one revision, page by page, and returns that revision.
 *
 * etcd (3.4, and 3.5 for the `count` it always returns) walks every remaining key of a range to
 * answer one page, so paging through N keys costs O(N²/pageSize) on the server: 1M sessions took
 * 78 s of pure listing here. When a page reports more than `splitAbove` keys still to come, the rest
 * of the range is listed as sub-ranges, one per next key character (plus the gaps between them), so
 * each request walks only its own sub-range: the same 1M keys list in about 11 s. Small prefixes
 * still take one request.
 */
export async function listPrefix(
  range: (req: IRangeRequest) => Promise<IRangeResponse>,
  prefix: string,
  options: ListPrefixOptions,
  onPage: (kvs: IKeyValue[]) => void,
): Promise<number> {
  const { pageSize } = options;
  if (!(Number.isInteger(pageSize) && pageSize > 0)) throw new Error(`listPrefix: pageSize must be a positive integer, got ${pageSize}`);
  const splitAbove = options.splitAbove ?? 4 * pageSize;
  let revision = options.revision;

  const listSpan = async (span: Span): Promise<void> => {
    let from = span.from;
    for (;;) {
      const r = await range({ key: from, range_end: span.to, limit: pageSize, ...(revision ? { revision } : {}) });
      if (!revision) revision = Number(r.header.revision);
      if (r.kvs.length > 0) onPage(r.kvs);
      if (!r.more || r.kvs.length === 0) return;
      const after = Buffer.concat([r.kvs[r.kvs.length - 1]!.key, ZERO]);
      if (span.base && Number(r.count) - r.kvs.length > splitAbove) {
        for (const sub of splitSpan(span.base, after, span.to)) await listSpan(sub);
        return;
      }
      from = after;
    }
  };

  const base = Buffer.from(prefix);
  await listSpan({ from: base, to: prefixEnd(prefix), base });
  return revision;
}

/**
 * The part [from, to) of the keys starting with `base`, cut at `base + c` for every split character
 * c: one splittable span per character and plain spans for the gaps between them. Empty spans are
 * left out (etcd reads `key == range_end` as a single-key get).
 */
export function splitSpan(base: Buffer, from: Buffer, to: Buffer): Span[] {
  const pieces: Span[] = [];
  let cursor = base;
  for (const c of SPLIT_CHARS) {
    const child = Buffer.concat([base, Buffer.from(c)]);
    const childEnd = prefixEndOf(child);
    pieces.push({ from: cursor, to: child });
    pieces.push({ from: child, to: childEnd, base: child });
    cursor = childEnd;
  }
  pieces.push({ from: cursor, to: prefixEndOf(base) });
  const out: Span[] = [];
  for (const p of pieces) {
    const lo = Buffer.compare(p.from, from) >= 0 ? p.from : from;
    const hi = Buffer.compare(p.to, to) <= 0 ? p.to : to;
    if (Buffer.compare(lo, hi) < 0) out.push(p.base ? { from: lo, to: hi, base: p.base } : { from: lo, to: hi });
  }
  return out;
}
