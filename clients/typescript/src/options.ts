import type { ChannelOptions } from '@grpc/grpc-js';
import type { KeepaliveOptions, RetryOptions } from './channel.js';
import type { TlsOptions, TokenSource } from './credentials.js';

/** Options of SessionClient and AdminClient; only `endpoints` is required. */
export interface ClientOptions {
  /**
   * Where the nodes are: one `host:port` (a headless Service name such as
   * `session-manager-headless.ns.svc:50051`, resolved with `dns:///` and balanced round_robin), several
   * IP `host:port`s, or a grpc-js target with a scheme (`dns:///…`, `ipv4:…`, `unix:…`).
   */
  readonly endpoints: string | readonly string[];
  /** TLS to the nodes (true: system roots); default plaintext. */
  readonly tls?: TlsOptions | boolean;
  /** Caller bearer token sent as `authorization: Bearer <token>` on every call; default none. */
  readonly token?: TokenSource;
  /** Deadline of each call in ms unless the call says otherwise (default 5000; retries included). */
  readonly deadlineMs?: number;
  /** Retries of the idempotent calls (default 3 attempts on UNAVAILABLE, 50 ms → 1 s backoff). */
  readonly retry?: RetryOptions;
  /** HTTP/2 keepalive pings (default every 30 s idle, 10 s to answer). */
  readonly keepalive?: KeepaliveOptions;
  /** Extra grpc-js channel options (override the ones above). */
  readonly channelOptions?: ChannelOptions;
}

/** Per-call options. */
export interface CallOptions {
  /** Deadline of this call in ms (default: the client's deadlineMs). */
  readonly deadlineMs?: number;
  /** Cancels the call (it rejects with CancelledError). */
  readonly signal?: AbortSignal;
}

/**
 * Options of a call that names a session: the end user's connection, which the server checks
 * against a bound session's bindings (BINDING_MISMATCH when it differs or is missing).
 */
export interface SessionCallOptions extends CallOptions {
  readonly client?: { readonly ip: string; readonly userAgent: string };
}

/** Validates client options at construction so a bad value fails before the first call. */
export function checkClientOptions(o: ClientOptions): void {
  if (!o || (typeof o.endpoints !== 'string' && !Array.isArray(o.endpoints))) throw new TypeError('options.endpoints is required (host:port or a list)');
  if (o.deadlineMs !== undefined && !(Number.isFinite(o.deadlineMs) && o.deadlineMs > 0)) throw new TypeError('options.deadlineMs must be a number of ms > 0');
  const a = o.retry?.maxAttempts;
  if (a !== undefined && !(Number.isInteger(a) && a >= 1 && a <= 5)) throw new TypeError('options.retry.maxAttempts must be a whole number from 1 to 5');
}
