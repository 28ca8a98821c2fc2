import type { Fence } from '../domain/ports.js';

/** What a candidacy reports: elected with its fence, or failed (lease lost, fence unreadable). */
export interface CandidacyHandlers {
  /** This candidate became the leader; `fence` is the leader key and its incarnation. */
  elected(fence: Fence): void;
  /** The candidacy failed (before or after being elected); it is over and must be replaced. */
  failed(error: Error): void;
}

/** One campaign in an election, over once resigned, abandoned or failed. */
export interface Candidacy {
  /** Withdraws; if leader, hands leadership over at once. Never rejects. */
  resign(): Promise<void>;
  /**
   * Stops keeping the candidacy alive without withdrawing, as a crash would: its lease (and the
   * leadership, if held) runs out after the election TTL. For failover tests and kill().
   */
  abandon(): void;
}

/**
 * Election is the narrow storage surface the Elector campaigns through (client-go's resource lock):
 * one candidacy at a time per caller, and who leads now. store/etcd/election.ts implements it on the
 * etcd gateway; unit tests use a fake.
 */
export interface Election {
  /** Campaigns with `value` (the node id); handlers are called at most once each per candidacy. */
  campaign(value: string, handlers: CandidacyHandlers): Candidacy;
  /** The value of the current leader, if any. */
  leader(): Promise<string | undefined>;
}
