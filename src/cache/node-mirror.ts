import type { NodeInfo } from '../domain/ports.js';
import { decodeNode } from '../store/etcd/codec.js';
import { Mirror } from './mirror.js';

export type { NodeInfo } from '../domain/ports.js';

/** One registry key as mirrored: the registration, the writer's wall time, and its revisions. */
export interface NodeEntry {
  /** The registration (decoded as written, wall time included). */
  readonly info: NodeInfo & { readonly wallTime: number };
  /** The key's mod revision. */
  readonly version: number;
  /** The key's create revision: equal to version when the node just registered. */
  readonly incarnation: number;
}

/**
 * NodeMirror mirrors the node registry (one key per live replica, under its node lease): a Mirror
 * keyed by the full registry key. Listeners on `mirror` see registrations come and go (ClockSampler).
 */
export class NodeMirror {
  /** The mirror the WatchFeed feeds (registry prefix). */
  readonly mirror: Mirror<NodeEntry>;

  constructor(prefix: string) {
    this.mirror = new Mirror<NodeEntry>({
      prefix,
      idOf: (key) => key.toString(),
      // An undecodable registration is skipped: the mirror keeps what it held.
      decode: (_id, kv) => {
        const info = decodeNode(kv.value);
        return info ? { info, version: Number(kv.mod_revision), incarnation: Number(kv.create_revision) } : undefined;
      },
      versionOf: (e) => e.version,
    });
  }

  /** Live nodes, sorted by id. */
  list(): NodeInfo[] {
    return [...this.mirror.values()].map((e) => e.info).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }
}
