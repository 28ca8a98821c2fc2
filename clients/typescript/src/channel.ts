import { isIP } from 'node:net';
import type { ChannelOptions } from '@grpc/grpc-js';

/** Fully qualified names of the two services, as used in service config method names. */
export const SESSION_SERVICE = 'sessionmanager.v1.SessionService';
/** Fully qualified name of the AdminService. */
export const ADMIN_SERVICE = 'sessionmanager.v1.AdminService';

/**
 * Calls that may be retried without changing the outcome: reads and renewals. CreateSession,
 * EndSession, Reauthenticate and the attribute writes are never retried by the client (a retry
 * after a lost answer could create a second session or overwrite a newer value).
 */
export const RETRYABLE_METHODS: Readonly<Record<string, readonly string[]>> = {
  [SESSION_SERVICE]: ['ValidateSession', 'Heartbeat', 'GetSession', 'GetAttribute'],
  [ADMIN_SERVICE]: ['ListSessions', 'GetClusterStatus'],
};

/** Retry settings of the idempotent calls (grpc-js retryPolicy; only UNAVAILABLE is retried). */
export interface RetryOptions {
  /** Attempts in total, first included (default 3; grpc-js caps it at 5). 1 disables retries. */
  readonly maxAttempts?: number;
  /** First backoff in ms (default 50). */
  readonly initialBackoffMs?: number;
  /** Longest backoff in ms (default 1000). */
  readonly maxBackoffMs?: number;
}

/**
 * Turns endpoints into a grpc-js target. One `host:port` becomes `dns:///host:port`: every address
 * the name resolves to (a headless Service gives one per ready pod) is a round_robin backend, and
 * re-resolution follows pods coming and going. Several endpoints must be IP literals (`ipv4:`/`ipv6:`
 * targets); a string that already has a scheme (`dns:`, `ipv4:`, `unix:`…) is used as it is.
 */
export function targetOf(endpoints: string | readonly string[]): string {
  const list = (typeof endpoints === 'string' ? endpoints.split(',') : [...endpoints]).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new TypeError('endpoints: give at least one host:port');
  if (list.length === 1) {
    const one = list[0]!;
    if (/^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/.test(one)) return one;
    return `dns:///${one}`;
  }
  const hosts = list.map(hostOf);
  if (hosts.every((h) => isIP(h) === 4)) return `ipv4:${list.join(',')}`;
  if (hosts.every((h) => isIP(h) === 6)) return `ipv6:${list.join(',')}`;
  throw new TypeError(
    `endpoints: several addresses must all be IPv4 or all IPv6 literals (got ${list.join(', ')}); for a name, give one host:port whose DNS name lists every node (a headless Service)`,
  );
}

function hostOf(hostPort: string): string {
  const m = /^\[([^\]]+)\]:\d+$/.exec(hostPort) ?? /^([^:]+):\d+$/.exec(hostPort);
  return m ? m[1]! : hostPort;
}

/** Builds the service config: round_robin over every resolved address, retries only for idempotent calls. */
export function serviceConfig(retry: RetryOptions = {}, services: readonly string[] = [SESSION_SERVICE, ADMIN_SERVICE]): object {
  const maxAttempts = retry.maxAttempts ?? 3;
  const methodConfig =
    maxAttempts > 1
      ? [
          {
            name: services.flatMap((service) => (RETRYABLE_METHODS[service] ?? []).map((method) => ({ service, method }))),
            retryPolicy: {
              maxAttempts,
              initialBackoff: `${(retry.initialBackoffMs ?? 50) / 1000}s`,
              maxBackoff: `${(retry.maxBackoffMs ?? 1000) / 1000}s`,
              backoffMultiplier: 2,
              retryableStatusCodes: ['UNAVAILABLE'],
            },
          },
        ]
      : [];
  return { loadBalancingConfig: [{ round_robin: {} }], methodConfig };
}

/** Keepalive settings (HTTP/2 pings) that notice a dead node or a half-open connection. */
export interface KeepaliveOptions {
  /** Ping after this many ms without activity (default 30000). */
  readonly timeMs?: number;
  /** Close the connection when a ping is not answered within this many ms (default 10000). */
  readonly timeoutMs?: number;
}

/** The channel options every client uses: service config, keepalive, optional TLS server name. */
export function channelOptions(opts: { retry?: RetryOptions; keepalive?: KeepaliveOptions; serverName?: string; extra?: ChannelOptions }): ChannelOptions {
  return {
    'grpc.service_config': JSON.stringify(serviceConfig(opts.retry)),
    'grpc.enable_retries': 1,
    'grpc.keepalive_time_ms': opts.keepalive?.timeMs ?? 30_000,
    'grpc.keepalive_timeout_ms': opts.keepalive?.timeoutMs ?? 10_000,
    'grpc.keepalive_permit_without_calls': 0,
    ...(opts.serverName ? { 'grpc.ssl_target_name_override': opts.serverName, 'grpc.default_authority': opts.serverName } : {}),
    ...opts.extra,
  };
}
