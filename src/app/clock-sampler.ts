import type { Mirror, MirrorCause } from '../cache/mirror.js';
import type { NodeEntry } from '../cache/node-mirror.js';
import type { Unsubscribe } from '../lifecycle/listeners.js';
import type { ClockOffset } from './clock-offset.js';

/**
 * ClockSampler listens to the node registry's mirror: every registration written while the watch
 * runs is also a clock sample for ClockOffset. A relist gives no samples (a listed value's age is
 * unknown); it only drops peers that are gone. This node's own key is never a sample. When a peer
 * registers anew, `onPeerJoined` runs (the node re-publishes at once, so the newcomer can measure its
 * offset within a round trip instead of a publish interval).
 */
export class ClockSampler {
  private readonly unsubscribe: Unsubscribe[];

  constructor(
    nodes: Mirror<NodeEntry>,
    private readonly offset: ClockOffset,
    private readonly ownKey: string,
    private readonly onPeerJoined: () => void = () => {},
  ) {
    this.unsubscribe = [
      nodes.on('add', (key, e, cause) => this.written(key, e, cause)),
      nodes.on('update', (key, e, _old, cause) => this.written(key, e, cause)),
      nodes.on('delete', (key) => this.offset.forget(key)),
      nodes.on('replaced', () => this.offset.retain(new Set(nodes.ids()))),
    ];
  }

  private written(key: string, e: NodeEntry, cause: MirrorCause): void {
    if (cause !== 'watch' || key === this.ownKey) return;
    this.offset.sample(key, e.info.wallTime);
    if (e.incarnation === e.version) this.onPeerJoined();
  }

  /** Stops sampling (unsubscribes from the mirror). */
  close(): void {
    for (const off of this.unsubscribe) off();
  }
}
