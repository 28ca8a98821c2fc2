import type { IKeyValue } from 'etcd3';
import { decodeNode } from '../store/etcd/codec.js';
import type { MirrorChannel } from './mirror-channel.js';

/** A registered replica as the registry shows it. */
export interface NodeInfo {
  readonly nodeId: string;
  readonly startTime: number;
  readonly configVersion: string;
}

/** NodeChannel mirrors the node registry (one key per live replica, under its node lease). */
export class NodeChannel implements MirrorChannel {
  private readonly nodes = new Map<string, NodeInfo>();

  constructor(readonly prefix: string) {}

  replaceAll(kvs: readonly IKeyValue[]): void {
    this.nodes.clear();
    for (const kv of kvs) this.put(kv);
  }

  put(kv: IKeyValue): void {
    const n = decodeNode(kv.value);
    if (n) this.nodes.set(kv.key.toString(), n);
  }

  delete(kv: IKeyValue): void {
    this.nodes.delete(kv.key.toString());
  }

  /** Live nodes, sorted by id. */
  list(): NodeInfo[] {
    return [...this.nodes.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }
}
