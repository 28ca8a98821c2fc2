import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The token file `make run` writes for local use; sessionctl picks it up when present. */
export const DEV_TOKEN_FILE = join('.data', 'caller-token');

/**
 * Finds the caller's bearer token for sessionctl (SPEC rule 21), first match wins: the file named by
 * `--token-file`, `$SM_TOKEN`, the file `$SM_TOKEN_FILE`, the older `$SM_ADMIN_TOKEN` /
 * `$SM_ADMIN_TOKEN_FILE`, then `.data/caller-token` under `cwd` (what `make run` generates).
 * Returns undefined when there is none (a client certificate may still authenticate).
 */
export function findCallerToken(flagFile: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const fromFile = (f: string) => readFileSync(f, 'utf8').split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
  if (flagFile) return fromFile(flagFile);
  if (env['SM_TOKEN']) return env['SM_TOKEN'];
  if (env['SM_TOKEN_FILE']) return fromFile(env['SM_TOKEN_FILE']);
  if (env['SM_ADMIN_TOKEN']) return env['SM_ADMIN_TOKEN'];
  if (env['SM_ADMIN_TOKEN_FILE']) return fromFile(env['SM_ADMIN_TOKEN_FILE']);
  const dev = join(cwd, DEV_TOKEN_FILE);
  return existsSync(dev) ? fromFile(dev) : undefined;
}
