// sessionctl's flags: each with its environment variable (flag > environment > default) and help.
import { parseArgs } from 'node:util';
import { UsageError } from './ctl-credentials.js';

/** One flag of sessionctl. */
export interface CtlFlag {
  /** The environment variable that gives the flag's value when the command line does not. */
  readonly env: string;
  /** One line of help. */
  readonly help: string;
  /** The value when neither the command line nor the environment gives one. */
  readonly default?: string;
  /** A switch without a value (true/false/1/0/yes/no in the environment). */
  readonly boolean?: boolean;
  /** Repeatable (comma-separated in the environment). */
  readonly multiple?: boolean;
  /** One-letter alias. */
  readonly short?: string;
}

/** Every flag, global ones first. */
export const CTL_FLAGS = {
  endpoints: { env: 'SM_ENDPOINTS', default: '127.0.0.1:50051', help: 'node addresses, comma-separated host:port; one name is resolved with dns:/// and balanced round_robin over every address' },
  addr: { env: 'SM_ADDR', help: 'older name of --endpoints (one address)' },
  output: { env: 'SM_OUTPUT', short: 'o', help: 'json | yaml | table (default: table for list, status and events; yaml otherwise)' },
  timeout: { env: 'SM_TIMEOUT', default: '10s', help: 'deadline of each call (10s, 500ms, 2m; a plain number is seconds)' },
  'token-file': { env: 'SM_TOKEN_FILE', help: 'file with the caller bearer token, sent on every call (also $SM_ADMIN_TOKEN_FILE; or the token itself in $SM_TOKEN / $SM_ADMIN_TOKEN)' },
  'ca-file': { env: 'SM_CA_FILE', help: 'CA of the server certificate: turns on TLS' },
  'cert-file': { env: 'SM_CERT_FILE', help: 'client certificate for mutual TLS (with --key-file)' },
  'key-file': { env: 'SM_KEY_FILE', help: 'client key for mutual TLS' },
  'server-name': { env: 'SM_SERVER_NAME', help: 'name to check the server certificate against (default: the endpoint host)' },
  site: { env: 'SM_SITE', help: 'site (create, list, revoke-user; default for create: default)' },
  user: { env: 'SM_USER', help: 'user name' },
  type: { env: 'SM_TYPE', help: 'client type: web, desktop, plugin, mobile, widget, api, admin (default for create: web)' },
  device: { env: 'SM_DEVICE', help: 'device id (create; default sessionctl)' },
  attr: { env: 'SM_ATTR', multiple: true, help: 'initial attribute name=value (create; repeatable; env: comma-separated)' },
  instance: { env: 'SM_INSTANCE', default: 'sessionctl', help: 'client instance of a heartbeat' },
  etag: { env: 'SM_ETAG', help: 'conditional write/delete: only if the attribute still has this etag' },
  'create-only': { env: 'SM_CREATE_ONLY', boolean: true, help: 'attr-set only if the attribute does not exist' },
  state: { env: 'SM_STATE', help: 'list filter: active or reauth' },
  'page-size': { env: 'SM_PAGE_SIZE', help: 'list: sessions per page (default 100, at most 1000)' },
  'page-token': { env: 'SM_PAGE_TOKEN', help: 'list: continue from this token' },
  all: { env: 'SM_ALL', boolean: true, help: 'list: every page' },
  from: { env: 'SM_FROM', help: 'events: resume after this token' },
  persistent: { env: 'SM_PERSISTENT', boolean: true, help: 'create: ask for a persistent-login token ("keep me logged in")' },
  forget: { env: 'SM_FORGET', boolean: true, help: 'end: also revoke the persistent login of the session ("forget this device")' },
  scope: { env: 'SM_SCOPE', help: 'end-mine: others (default) or all' },
  handle: { env: 'SM_HANDLE', help: 'end-mine: end only the session with this handle' },
  help: { env: 'SM_HELP', boolean: true, short: 'h', help: 'show help' },
} as const satisfies Record<string, CtlFlag>;

/** Flag names. */
export type FlagName = keyof typeof CTL_FLAGS;

/** Parsed command line: positionals and a getter applying flag > env > default. */
export interface ParsedCommandLine {
  /** The command name and its arguments. */
  positionals: string[];
  /** The value: command line, else environment, else the flag's default. */
  get(name: FlagName): string | undefined;
  /** The value given on the command line only. */
  flag(name: FlagName): string | undefined;
  /** The value from the environment only. */
  envValue(name: FlagName): string | undefined;
  /** A switch: command line, else environment (a value other than true/false is a UsageError), else false. */
  bool(name: FlagName): boolean;
  /** A repeatable flag: its command-line values, else the environment's comma-separated list. */
  list(name: FlagName): string[];
}

/** The flag a `--name` or `-x` argument names, if it is one of CTL_FLAGS. */
function flagOf(arg: string): CtlFlag | undefined {
  if (arg.startsWith('--')) return (CTL_FLAGS as Record<string, CtlFlag>)[arg.slice(2)];
  return Object.values(CTL_FLAGS as Record<string, CtlFlag>).find((f) => f.short !== undefined && arg === `-${f.short}`);
}

/**
 * Session ids, login tokens, handles and page tokens are base64url, so one in 64 starts with '-'.
 * Rewrites argv so that such a value is never taken for a flag: every positional goes after `--`
 * (in order), a value starting with '-' after a flag that takes one is joined to it (`--handle=-x`),
 * and a single-dash word longer than a short flag (`-dX…`) is a positional (short flags are never
 * grouped or given inline values). An unknown short `--name` still reaches parseArgs and is refused.
 */
export function shieldDashValues(argv: readonly string[]): string[] {
  const flags: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // An unknown `--word` of 16+ base64url characters is an id or token (1 in 4096 starts with '--'), not a typo.
    const isFlag = (a.startsWith('--') && (flagOf(a.split('=')[0]!) !== undefined || !/^--[A-Za-z0-9_-]{16,}$/.test(a))) || /^-[^-]$/.test(a);
    if (!isFlag) {
      positionals.push(a);
      continue;
    }
    const f = a.includes('=') ? undefined : flagOf(a);
    const next = argv[i + 1];
    // A known flag after a flag is not its value: parseArgs then reports the missing value itself.
    const takesNext = !!f && !f.boolean && next !== undefined && next !== '--' && !flagOf(next.split('=')[0]!);
    if (takesNext && next.startsWith('-')) {
      flags.push(`${a.startsWith('--') ? a : `--${Object.entries(CTL_FLAGS).find(([, g]) => g === f)![0]}`}=${next}`);
      i++;
      continue;
    }
    flags.push(a);
    if (takesNext) {
      flags.push(next);
      i++;
    }
  }
  return positionals.length > 0 ? [...flags, '--', ...positionals] : flags;
}

/** Parses argv against CTL_FLAGS; unknown flags are a UsageError. */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  let parsed;
  try {
    parsed = parseArgs({
      args: shieldDashValues(argv),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(CTL_FLAGS).map(([k, f]) => [
          k,
          { type: 'boolean' in f && f.boolean ? ('boolean' as const) : ('string' as const), ...('multiple' in f && f.multiple ? { multiple: true } : {}), ...('short' in f ? { short: f.short } : {}) },
        ]),
      ),
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const fromEnv = (name: FlagName): string | undefined => {
    const v = env[CTL_FLAGS[name].env];
    return v === undefined || v === '' ? undefined : v;
  };
  return {
    positionals: parsed.positionals,
    flag: (name) => (typeof values[name] === 'string' ? (values[name] as string) : undefined),
    envValue: fromEnv,
    get(name) {
      const v = values[name];
      if (typeof v === 'string') return v;
      const f: CtlFlag = CTL_FLAGS[name];
      return fromEnv(name) ?? f.default;
    },
    bool(name) {
      const v = values[name];
      if (typeof v === 'boolean') return v;
      const e = fromEnv(name);
      if (e === undefined) return false;
      if (/^(1|true|yes)$/i.test(e)) return true;
      if (/^(0|false|no)$/i.test(e)) return false;
      throw new UsageError(`$${CTL_FLAGS[name].env} must be true or false`);
    },
    list(name) {
      const v = values[name];
      if (Array.isArray(v)) return v;
      const e = fromEnv(name);
      return e ? e.split(',').map((s) => s.trim()).filter(Boolean) : [];
    },
  };
}
