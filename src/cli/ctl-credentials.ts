// The one place where sessionctl decides which credentials to send: TLS material and the caller's
// bearer token (sent on every call, SessionService and AdminService alike). Automatic discovery of
// local development credentials belongs here too.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsOptions, TokenSource } from '@session-manager/client';

/** The caller token file `make run` writes for local use; sessionctl sends it when nothing else is given. */
export const DEV_TOKEN_FILE = join('.data', 'caller-token');

/** Credential inputs from flags (undefined when not given). */
export interface CredentialFlags {
  tokenFile?: string | undefined;
  caFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  serverName?: string | undefined;
}

/** What the clients get: a token source and TLS options (both optional). */
export interface ResolvedCredentials {
  token?: TokenSource;
  tls?: TlsOptions;
}

/**
 * Resolves credentials: token from --token-file, else $SM_TOKEN_FILE, $SM_ADMIN_TOKEN_FILE, $SM_TOKEN,
 * $SM_ADMIN_TOKEN (in that order), else `.data/caller-token` under `cwd` when it exists (what `make
 * run` generates); TLS when a CA, client certificate or server name is given.
 */
export function resolveCredentials(flags: CredentialFlags, env: NodeJS.ProcessEnv, cwd = process.cwd()): ResolvedCredentials {
  const out: ResolvedCredentials = {};
  const tokenFile = flags.tokenFile || env['SM_TOKEN_FILE'] || env['SM_ADMIN_TOKEN_FILE'];
  const token = env['SM_TOKEN'] || env['SM_ADMIN_TOKEN'];
  const dev = join(cwd, DEV_TOKEN_FILE);
  if (tokenFile) out.token = { file: tokenFile };
  else if (token) out.token = token;
  else if (existsSync(dev)) out.token = { file: dev };
  if ((flags.certFile === undefined) !== (flags.keyFile === undefined)) throw new UsageError('--cert-file and --key-file go together');
  if (flags.caFile || flags.certFile || flags.serverName) {
    out.tls = {
      ...(flags.caFile ? { ca: flags.caFile } : {}),
      ...(flags.certFile ? { cert: flags.certFile } : {}),
      ...(flags.keyFile ? { key: flags.keyFile } : {}),
      ...(flags.serverName ? { serverName: flags.serverName } : {}),
    };
  }
  return out;
}

/** A mistake in the command line: sessionctl prints it with a hint and exits 2. */
export class UsageError extends Error {}
