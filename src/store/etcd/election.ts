import type { Campaign, Election as Etcd3Election, IRangeRequest, IRangeResponse } from 'etcd3';
import type { Candidacy, CandidacyHandlers, Election } from '../../domain/ports.js';

/** The part of the gateway the election uses: etcd3's election API and fenced reads with deadlines. */
export interface ElectionGateway {
  /** etcd3's Election under `prefix` (etcd `client/v3/concurrency` semantics). */
  etcd3Election(prefix: string, name: string, ttlSeconds: number): Etcd3Election;
  range(req: IRangeRequest, prefix: string): Promise<IRangeResponse>;
}

/** The part of etcd3's Campaign that crash-like abandonment needs (not in its typings). */
interface CampaignLease {
  lease?: { release(): void };
}

/**
 * Stops a campaign's keep-alives without revoking its lease, as a crash would. etcd3 keeps the
 * campaign's lease private and offers only resign() (which deletes the key and revokes the lease),
 * so this is the one place that reaches into it; it checks the shape and fails loudly if an etcd3
 * upgrade changed it (review this function then).
 */
function releaseCampaignLease(c: Campaign): void {
  const lease = (c as unknown as CampaignLease).lease;
  if (typeof lease?.release !== 'function') {
    throw new Error('election: the etcd3 Campaign no longer exposes lease.release; review releaseCampaignLease for this etcd3 version');
  }
  lease.release();
}

/**
 * EtcdElection implements the Elector's Election port with etcd3's Election (etcd's concurrency
 * election: the lowest create revision under the election prefix leads). The fence is read back
 * through the gateway (deadline, error mapping): the leader key and its create revision.
 */
export class EtcdElection implements Election {
  private readonly election: Etcd3Election;

  constructor(
    private readonly gateway: ElectionGateway,
    prefix: string,
    name: string,
    ttlSeconds: number,
  ) {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw new Error('election: ttlSeconds must be a whole number >= 1');
    if (!name) throw new Error('election: name is required');
    this.election = gateway.etcd3Election(prefix, name, ttlSeconds);
  }

  campaign(value: string, handlers: CandidacyHandlers): Candidacy {
    const c = this.election.campaign(value);
    let over = false;
    const fail = (err: Error) => {
      if (over) return;
      over = true;
      handlers.failed(err);
    };
    c.on('elected', () => {
      void (async () => {
        try {
          const key = await c.getCampaignKey();
          const r = await this.gateway.range({ key: Buffer.from(key) }, 'election');
          const kv = r.kvs[0];
          if (over) return;
          if (!kv) return fail(new Error('election: the leader key vanished on election'));
          handlers.elected({ key, incarnation: Number(kv.create_revision) });
        } catch (err) {
          fail(err as Error);
        }
      })();
    });
    c.on('error', (err: Error) => fail(err));
    return {
      resign: async () => {
        over = true;
        await c.resign().catch(() => {});
      },
      abandon: () => {
        over = true;
        releaseCampaignLease(c);
      },
    };
  }

  leader(): Promise<string | undefined> {
    return this.election.leader();
  }
}
