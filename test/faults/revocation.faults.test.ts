// Fault test of issue 10 item 4 (make test-faults): a revoke (RevokeUserSessions, RevokeSession by
// ref) or a logout (EndSession) races a client that keeps re-authenticating on another node. Once the
// revoke is acknowledged, no id of the user's lineage may validate VALID on any node ("escape").
import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';
import { hashSessionId } from '../../src/app/ids.js';
import { ClientType } from '../../src/gen/sessionmanager/v1/session.js';
import { Verdict } from '../../src/gen/sessionmanager/v1/session_service.js';
import type { AdminApi } from '../../src/transport/grpc/client.js';
import { adminOf, adminTokenFile } from '../support/cluster.js';
import { EtcdCluster } from '../support/etcd.js';
import { startNode, type TestNode } from '../support/nodes.js';

const TRIALS = 50;
const report = (line: string) => console.log(`      » ${line}`);

/** A client that re-authenticates in a loop on one node until its id stops working. */
class ReauthLoop {
  readonly ids: string[] = [];
  private stopped = false;
  readonly done: Promise<void>;

  constructor(n: TestNode, first: string, user: string) {
    this.ids.push(first);
    this.done = (async () => {
      while (!this.stopped) {
        try {
          const r = await n.api.reauthenticate({ sessionId: this.ids[this.ids.length - 1]!, user });
          this.ids.push(r.sessionId);
        } catch (err) {
          const code = (err as ServiceError).code;
          if (code === status.NOT_FOUND) return; // the lineage ended
          if (code !== status.ABORTED) throw err;
        }
      }
    })();
  }

  /** Resolves once the loop has re-authenticated `n` times. */
  async reauthenticated(n: number): Promise<void> {
    while (this.ids.length <= n) await new Promise((r) => setImmediate(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

describe('faults: revocation races re-authentication', function () {
  this.timeout(300_000);
  let etcd: EtcdCluster;
  let a: TestNode;
  let b: TestNode;
  let adm: AdminApi;
  const { token, file } = adminTokenFile();
  let user = 0;

  before(async () => {
    etcd = await EtcdCluster.start();
    a = await startNode({ endpoints: etcd.endpoints, nodeId: 'rev-a', node: { adminTokenFile: file } });
    b = await startNode({ endpoints: etcd.endpoints, nodeId: 'rev-b', node: { adminTokenFile: file } });
    adm = adminOf(a, token);
  });
  after(async () => {
    adm?.close();
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await etcd?.stop();
  });

  /** Ids of the lineage still VALID on some node 2 s after the revoke was acknowledged (watch delivery). */
  async function escapes(ids: readonly string[]): Promise<string[]> {
    const deadline = Date.now() + 2000;
    let live = [...ids];
    for (;;) {
      const still: string[] = [];
      for (const id of live) {
        for (const n of [a, b]) {
          if ((await n.api.validate({ sessionId: id })).verdict === Verdict.VERDICT_VALID) {
            still.push(id);
            break;
          }
        }
      }
      live = still;
      if (live.length === 0 || Date.now() > deadline) return live;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Runs TRIALS races of `revoke` against a re-authentication loop on node B; returns the escapes. */
  async function race(kind: string, revoke: (ids: readonly string[], u: string) => Promise<void>): Promise<void> {
    let escaped = 0;
    let chained = 0;
    let notFound = 0;
    for (let t = 0; t < TRIALS; t++) {
      const u = `rev-${kind}-${++user}`;
      const { sessionId } = await a.api.create({ site: 'default', user: u, clientType: ClientType.CLIENT_TYPE_WEB, deviceId: 'pc', attributes: {} });
      const loop = new ReauthLoop(b, sessionId, u);
      await loop.reauthenticated(1 + (t % 3));
      try {
        await revoke(loop.ids, u);
      } catch (err) {
        // NOT_FOUND: the revoke missed the lineage; whether that let an id escape is counted below.
        if ((err as ServiceError).code !== status.NOT_FOUND) throw err;
        notFound++;
      }
      const acked = loop.ids.length;
      await loop.stop();
      chained += loop.ids.length - acked;
      if ((await escapes(loop.ids)).length > 0) escaped++;
    }
    report(`${kind}: ${escaped} escapes in ${TRIALS} trials (${notFound} answered NOT_FOUND, ${chained} re-authentications after the ack)`);
    assert.equal(escaped, 0, `${kind}: ids still VALID after the revoke was acknowledged`);
  }

  it(`RevokeUserSessions racing Reauthenticate: 0 escapes in ${TRIALS} trials`, async () => {
    await race('revoke-user', async (_ids, u) => {
      const r = await adm.revokeUser({ site: 'default', user: u });
      if (r.revoked === 0) report(`revoke-user: revoked=0 for ${u}`);
    });
  });

  it(`RevokeSession by a ref taken before the re-authentications: 0 escapes in ${TRIALS} trials`, async () => {
    await race('revoke-ref', async (ids) => {
      await adm.revoke({ sessionRef: hashSessionId(ids[0]!) });
    });
  });

  it(`EndSession (logout) with an id a racing Reauthenticate replaces: 0 escapes in ${TRIALS} trials`, async () => {
    await race('logout', async (ids) => {
      await a.api.end({ sessionId: ids[ids.length - 1]! });
    });
  });
});
