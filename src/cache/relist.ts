import type { IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import { listPrefix } from '../store/etcd/range-lister.js';
import type { MirrorListing, MirrorSink } from './mirror.js';

/** A relist read in full and not yet applied. */
export interface Relist {
  /** The one revision every prefix was read at. */
  revision: number;
  /** Applies every list to its sink (nothing is applied before this). */
  commit(): void;
}

/**
 * Lists every sink's prefix page by page at one revision, so the mirrors agree with each other; each
 * sink decodes its pages as they come (beginList), but nothing is applied until every list is
 * complete. A failed list leaves every sink as it was.
 */
export async function listAtOneRevision(
  range: (req: IRangeRequest) => Promise<IRangeResponse>,
  sinks: readonly MirrorSink[],
  pageSize: number,
): Promise<Relist> {
  let revision = 0;
  const listings: MirrorListing[] = [];
  for (const sink of sinks) {
    const listing = sink.beginList();
    revision = await listPrefix(range, sink.prefix, { pageSize, revision }, (kvs: IKeyValue[]) => listing.add(kvs));
    listings.push(listing);
  }
  return { revision, commit: () => listings.forEach((l) => l.commit(revision)) };
}
