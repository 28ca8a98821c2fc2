import type { PresenceStore as PresenceStorePort } from '../../domain/ports.js';
import type { EtcdGateway } from './client.js';
import { encodePresence } from './codec.js';
import type { Keys } from './keys.js';

const b = (s: string): Buffer => Buffer.from(s);

/**
 * PresenceStore writes this node's presence keys, one per session, under the node lease, so a dead
 * node's presence disappears with its lease (ARCHITECTURE decision 3). The session record itself is
 * written only through the SessionStore (its connection-lost mark: SessionStore.setConnectionLost).
 */
export class PresenceStore implements PresenceStorePort {
  constructor(
    private readonly etcd: EtcdGateway,
    private readonly keys: Keys,
    private readonly nodeId: string,
  ) {}

  /** Publishes (connections, instances) for a session; false when the session no longer exists. */
  async publish(hash: string, connections: number, instances: number, lease: string): Promise<boolean> {
    // Only while the session exists: presence must never outlive (or resurrect) a session.
    const r = await this.etcd.txn(
      {
        compare: [{ key: b(this.keys.session(hash)), target: 'Version', result: 'Greater', version: 0 }],
        success: [
          {
            request_put: {
              key: b(this.keys.presenceKey(hash, this.nodeId)),
              value: Buffer.from(encodePresence(this.nodeId, connections, instances)),
              lease,
            },
          },
        ],
        failure: [],
      },
      'p',
    );
    return r.succeeded;
  }

  /** Removes this node's presence for a session. */
  async withdraw(hash: string): Promise<void> {
    await this.etcd.deleteRange({ key: b(this.keys.presenceKey(hash, this.nodeId)) }, 'p');
  }
}
