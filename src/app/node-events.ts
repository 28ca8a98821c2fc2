import { Listeners } from '../lifecycle/listeners.js';
import type { ClientType } from '../domain/client-type.js';
import type { Verdict } from '../domain/decisions.js';
import type { EndReason } from '../domain/session.js';

/** What one scavenger cycle did (SPEC rule 14). */
export interface ScavengeReport {
  durationMs: number;
  /** Sessions examined. */
  scanned: number;
  /** Sessions ended, by reason. */
  ended: Partial<Record<EndReason, number>>;
  /** Deletes refused by the leadership fence (a deposed leader's writes). */
  fencedOut: number;
  /** How late the cycle started relative to its schedule. */
  lagMs: number;
  /** Expired persistent-login token families removed. */
  loginFamiliesRemoved?: number;
}

/**
 * The events a node emits for telemetry. Nothing here carries a session id: at most site, client
 * type and reasons. Listeners must be cheap and must not throw.
 */
export interface NodeEventMap {
  /** A finished RPC: method, gRPC code (0 = OK), duration, ErrorInfo reason if failed. */
  call: [method: string, code: number, durationMs: number, reason: string | undefined];
  /** A finished etcd request: RPC name, key class ('s', 'a', 'u', 'n', 'e', '' …), duration, error. */
  etcd: [op: string, keyClass: string, durationMs: number, error: Error | undefined];
  'session-created': [site: string, clientType: ClientType];
  'session-ended': [site: string, clientType: ClientType, reason: EndReason];
  verdict: [verdict: Verdict];
  'scavenge-cycle': [report: ScavengeReport];
  /** This node became (true) or stopped being (false) the scavenger leader. */
  leadership: [leader: boolean];
  /** The node lease was lost and re-acquired. */
  'node-lease-lost': [];
  'config-applied': [version: string];
  'config-rejected': [problems: readonly string[]];
  /** A caller policy update was rejected as invalid (the last good policy stays in force). */
  'auth-policy-rejected': [problems: readonly string[]];
  /** The watch broke while live (it resumes by itself). */
  'watch-lost': [error: Error];
}

/** The node's telemetry bus over NodeEventMap, in the one listener style (`on` returns its unsubscribe). */
export class NodeEvents extends Listeners<NodeEventMap> {}
