import type { Clock } from '../domain/clock.js';
import type { ConfigSource } from '../domain/ports.js';
import type { EtcdClientOptions } from '../store/etcd/client.js';
import type { Logger } from 'pino';

/** Options of SessionNode: one per process in production, several per process in tests. */
export interface SessionNodeOptions {
  /** Name of this node in logs and the node registry. Required. */
  nodeId: string;
  /** host:port for gRPC; port 0 picks a free one. Required. */
  listen: string;
  /** The etcd connection (endpoints, deadline, TLS, auth). Required. */
  etcd: EtcdClientOptions;
  /** Key prefix in etcd. Default `/session-manager/`. */
  prefix?: string;
  /** The configuration in force and its live updates. Required. */
  config: ConfigSource;
  /** Wall time for deadlines and stamps. Default the system clock (node/system-clock.ts). */
  clock?: Clock;
  /** The structured logger. Required. */
  logger: Logger;
  /** After SIGTERM, how long to keep serving while reporting NOT_SERVING so endpoints update. Default 0. */
  drainDelayMs?: number;
  /** How long in-flight calls may take to finish on shutdown before they are cancelled. Default 20 s. */
  shutdownGraceMs?: number;
  /** How often health is re-evaluated against cache freshness. Default 250 ms. */
  healthIntervalMs?: number;
  /** File with the admin bearer token; unset disables the AdminService (PERMISSION_DENIED). */
  adminTokenFile?: string;
  /** Node lease TTL in seconds. Default 10. */
  nodeLeaseTtlSeconds?: number;
  /** Scavenger election TTL in seconds: how fast a dead leader is replaced. Default 10. */
  electionTtlSeconds?: number;
  /** Most open server streams (Attach + WatchEvents) on this node. Default 10000. */
  maxStreams?: number;
  /** How often presence instances are swept. Default 1000 ms. */
  presenceSweepMs?: number;
  /** File with the HMAC key (at least 32 bytes) of CLIENT_ADDRESS session ids; unset disables that mode. */
  idKeyFile?: string;
  /** Serve gRPC over TLS; with clientCaFile, require client certificates signed by it (mTLS). */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Client-certificate identities (CN or SAN) allowed to call the AdminService over mTLS. */
  adminIdentities?: readonly string[];
  /**
   * --insecure-allow-anonymous: every caller is allowed everything (local experiments only). Default
   * false: every SessionService and AdminService call must authenticate (SPEC rule 21).
   */
  allowAnonymous?: boolean;
  /** The caller policy file (JSON, reloaded live); unset: only the legacy admin caller exists. */
  policyFile?: string;
  /** Poll interval of the policy file under its directory watch. Default 10 s. */
  policyPollMs?: number;
  /** How often bearer token files are re-checked. Default 1000 ms. */
  tokenRecheckMs?: number;
  /**
   * host:port of a second, plaintext listener serving only grpc.health.v1 (kubelet gRPC probes
   * cannot speak TLS). Default none: health is served on the main port only.
   */
  healthListen?: string;
  /** Server keepalive: ping a quiet client after this long (ms). Default 10 000 (GrpcServer). */
  keepaliveTimeMs?: number;
  /** Server keepalive: drop the connection when the ping is not answered within this (ms). Default 10 000. */
  keepaliveTimeoutMs?: number;
  /** How often this node publishes its wall time for clock-offset measurement (ms). Default 3000. */
  clockPublishIntervalMs?: number;
}
