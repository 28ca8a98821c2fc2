import type { IKeyValue } from 'etcd3';
import type { MirrorChannel } from '../cache/mirror-channel.js';
import { decodeNode } from '../store/etcd/codec.js';
import type { ClockOffset } from './clock-offset.js';

/**
 * ClockSamplingChannel wraps the node registry's mirror channel: every registration written while the
 * watch runs is also a clock sample for ClockOffset. A relist gives no samples (a listed value's age
 * is unknown); it only drops peers that are gone. This node's own key is never a sample. When a peer
 * registers anew, `onPeerJoined` runs (the node re-publishes at once, so the newcomer can measure its
 * offset within a round trip instead of a publish interval).
 */
export class ClockSamplingChannel implements MirrorChannel {
  readonly prefix: string;

  constructor(
    private readonly inner: MirrorChannel,
    private readonly offset: ClockOffset,
    private readonly ownKey: string,
    private readonly onPeerJoined: () => void = () => {},
  ) {
    this.prefix = inner.prefix;
  }

  replaceAll(kvs: readonly IKeyValue[], revision: number): void {
    this.inner.replaceAll(kvs, revision);
    this.offset.retain(new Set(kvs.map((kv) => kv.key.toString())));
  }

  put(kv: IKeyValue): void {
    this.inner.put(kv);
    const key = kv.key.toString();
    if (key === this.ownKey) return;
    const n = decodeNode(kv.value);
    if (n) this.offset.sample(key, n.wallTime);
    if (kv.create_revision === kv.mod_revision) this.onPeerJoined();
  }

  delete(kv: IKeyValue): void {
    this.inner.delete(kv);
    this.offset.forget(kv.key.toString());
  }
}
