// Ports of the cluster around a node: its registration, the event log, the scavenger election.
import type { SessionEvent } from '../events.js';
import type { Fence } from './sessions.js';

/** A lifecycle event with the opaque token that resumes a stream right after it (SPEC rule 18). */
export interface EventEnvelope {
  readonly token: string;
  readonly event: SessionEvent;
}

/**
 * EventLog is the port to the retained lifecycle events (SPEC rule 18): a total order with a resume
 * token per event, so a reader that reconnects misses nothing and sees nothing twice.
 */
export interface EventLog {
  /** Checks a resume token's form; throws InvalidResumeTokenError. */
  validateToken(token: string): void;
  /** Yields events after `token` ('' = from now) until `signal` aborts; throws StoreUnavailableError when the store fails. */
  stream(token: string, signal: AbortSignal): AsyncIterable<EventEnvelope>;
}

/**
 * NodeRegistration is the port to this node's registration in the cluster: the opaque tag of its
 * liveness (presence is written under it, so it vanishes with the node) and a re-publish.
 */
export interface NodeRegistration {
  /** The node's liveness tag; '0' before start and while it is being re-acquired. */
  readonly leaseId: string;
  /** Rewrites the registration (after a config change; periodically with the wall time). */
  refresh(): Promise<void>;
}

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

// ---- Kubernetes ConfigMap port (config/configmap-client.ts adapts @kubernetes/client-node to it)
