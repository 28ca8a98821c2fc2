// Where sessionctl connects: the endpoints flag expanded to addresses, and the client options built
// from them, the deadline and the credentials.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ClientOptions } from '@session-manager/client';
import { UsageError, type ResolvedCredentials } from './ctl-credentials.js';
import { CTL_FLAGS, type ParsedCommandLine } from './ctl-flags.js';

/** Expands several endpoints to IP addresses (grpc-js balances over IP lists, not over several names). */
export async function endpointsOf(cl: ParsedCommandLine): Promise<{ endpoints: string[]; serverName?: string }> {
  const given = cl.flag('endpoints') ?? cl.flag('addr') ?? cl.envValue('endpoints') ?? cl.envValue('addr') ?? CTL_FLAGS.endpoints.default;
  const raw = given
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (raw.length === 0) throw new UsageError('--endpoints is empty');
  if (raw.length === 1) return { endpoints: raw };
  const out: string[] = [];
  let serverName: string | undefined;
  for (const ep of raw) {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(ep);
    if (!m) throw new UsageError(`--endpoints: ${JSON.stringify(ep)} is not host:port`);
    const host = m[1] ?? m[2]!;
    if (isIP(host)) {
      out.push(ep);
      continue;
    }
    serverName ??= host;
    for (const a of await lookup(host, { all: true, family: 4 })) out.push(`${a.address}:${m[3]}`);
  }
  return { endpoints: out, ...(serverName ? { serverName } : {}) };
}

/**
 * The client options of every call: the endpoints, the deadline, the token, and TLS (checked against
 * the first endpoint name when several names were expanded and no --server-name was given).
 */
export async function clientOptionsOf(cl: ParsedCommandLine, deadlineMs: number, creds: ResolvedCredentials): Promise<ClientOptions> {
  const ep = await endpointsOf(cl);
  const tls = creds.tls ?? undefined;
  return {
    endpoints: ep.endpoints,
    deadlineMs,
    ...(creds.token ? { token: creds.token } : {}),
    ...(tls ? { tls: ep.serverName && !tls.serverName ? { ...tls, serverName: ep.serverName } : tls } : {}),
  };
}
