import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Where the default cluster-config.properties lives, relative to the built main module. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../../src/config/cluster-config.properties', import.meta.url));

/** The start options of one node, from flags with environment fallbacks. */
export interface StartArgs {
  /** gRPC listen address host:port (--listen). */
  listen: string;
  /** etcd client URLs (--etcd-endpoints, comma-separated). */
  etcdEndpoints: string[];
  /** The cluster-config.properties file loaded at start (--config). */
  configPath: string;
  /** Where live config updates come from: the mounted file's directory, or the ConfigMap via the API. */
  configSource: 'file' | 'kubernetes';
  /** Content-hash poll interval of the file source. */
  configPollMs: number;
  /** ConfigMap name and namespace (kubernetes source). */
  configMap?: string;
  /** Namespace of the ConfigMap (default $POD_NAMESPACE). */
  configNamespace?: string;
  /** This node's id in the registry and events (--node-id; default the host name). */
  nodeId: string;
  /** Key prefix of everything the cluster stores in etcd (--etcd-prefix). */
  prefix: string;
  /** CA that signed etcd's server certificate: turns on TLS to etcd. */
  etcdCaFile?: string;
  /** Client certificate for mutual TLS to etcd (with etcdKeyFile). */
  etcdCertFile?: string;
  /** Client key for mutual TLS to etcd. */
  etcdKeyFile?: string;
  /** etcd user (etcd auth; --etcd-username). */
  etcdUsername?: string;
  /** Password of etcdUsername, from $SM_ETCD_PASSWORD only (there is no flag). */
  etcdPassword?: string;
  /** How long the node stays up NOT_SERVING before draining, so load balancers notice (--drain-delay). */
  drainDelayMs: number;
  /** How long in-flight calls may take to finish before a forced shutdown (--shutdown-grace). */
  shutdownGraceMs: number;
  /** Legacy admin token file: caller `admin`, class admin, every site (--admin-token-file). */
  adminTokenFile?: string;
  /** TTL of this node's own lease (presence and registry; --node-lease-ttl). */
  nodeLeaseTtlSeconds: number;
  /** TTL of the scavenger election lease (--election-ttl). */
  electionTtlSeconds: number;
  /** Most open streams (Attach, WatchEvents) per node (--max-streams). */
  maxStreams: number;
  /** Server id key for CLIENT_ADDRESS session ids; unset: tickets only (--id-key-file). */
  idKeyFile?: string;
  /** Server TLS (certificate, key, and the CA of client certificates for mTLS); unset: plaintext. */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** Legacy admin certificate identities (--admin-identities), mapped to typed identities. */
  adminIdentities: string[];
  /** --insecure-allow-anonymous: no caller authentication at all (local experiments only). */
  allowAnonymous: boolean;
  /** The caller policy file (JSON, reloaded live). */
  authPolicyFile?: string;
  /** Poll interval of the caller policy file. */
  authPolicyPollMs: number;
  /** Plaintext health-only listener (for kubelet probes when gRPC is TLS). */
  healthListen?: string;
  /** Server keepalive ping interval and answer timeout (ms): a silent client is dropped within their sum. */
  keepaliveTimeMs: number;
  /** See keepaliveTimeMs. */
  keepaliveTimeoutMs: number;
  /** How often the node publishes its wall time for clock-offset measurement (ms). */
  clockPublishIntervalMs: number;
}

/** Each flag, its environment variable and its default (documented in the README). */
export const FLAGS = {
  listen: { env: 'SM_LISTEN', default: '127.0.0.1:50051' },
  'etcd-endpoints': { env: 'SM_ETCD_ENDPOINTS', default: 'http://127.0.0.1:2379' },
  config: { env: 'SM_CONFIG', default: DEFAULT_CONFIG_PATH },
  'config-source': { env: 'SM_CONFIG_SOURCE', default: 'file' },
  'config-poll': { env: 'SM_CONFIG_POLL', default: '10' },
  'config-map': { env: 'SM_CONFIG_MAP', default: '' },
  'config-namespace': { env: 'POD_NAMESPACE', default: '' },
  'node-id': { env: 'SM_NODE_ID', default: hostname() },
  'etcd-prefix': { env: 'SM_ETCD_PREFIX', default: '/session-manager/' },
  'etcd-ca-file': { env: 'SM_ETCD_CA_FILE', default: '' },
  'etcd-cert-file': { env: 'SM_ETCD_CERT_FILE', default: '' },
  'etcd-key-file': { env: 'SM_ETCD_KEY_FILE', default: '' },
  'etcd-username': { env: 'SM_ETCD_USERNAME', default: '' },
  'drain-delay': { env: 'SM_DRAIN_DELAY', default: '0' },
  'shutdown-grace': { env: 'SM_SHUTDOWN_GRACE', default: '20' },
  'admin-token-file': { env: 'SM_ADMIN_TOKEN_FILE', default: '' },
  'node-lease-ttl': { env: 'SM_NODE_LEASE_TTL', default: '10' },
  'election-ttl': { env: 'SM_ELECTION_TTL', default: '10' },
  'max-streams': { env: 'SM_MAX_STREAMS', default: '10000' },
  'id-key-file': { env: 'SM_ID_KEY_FILE', default: '' },
  'tls-cert-file': { env: 'SM_TLS_CERT_FILE', default: '' },
  'tls-key-file': { env: 'SM_TLS_KEY_FILE', default: '' },
  'tls-client-ca-file': { env: 'SM_TLS_CLIENT_CA_FILE', default: '' },
  'admin-identities': { env: 'SM_ADMIN_IDENTITIES', default: '' },
  'auth-policy-file': { env: 'SM_AUTH_POLICY_FILE', default: '' },
  'auth-policy-poll': { env: 'SM_AUTH_POLICY_POLL', default: '10' },
  'health-listen': { env: 'SM_HEALTH_LISTEN', default: '' },
  'keepalive-time': { env: 'SM_KEEPALIVE_TIME', default: '10' },
  'keepalive-timeout': { env: 'SM_KEEPALIVE_TIMEOUT', default: '10' },
  'clock-publish-interval': { env: 'SM_CLOCK_PUBLISH_INTERVAL', default: '3' },
} as const;

/** The boolean flag that turns caller authentication off, and its environment variable (exactly `true`). */
export const INSECURE_ALLOW_ANONYMOUS = { flag: 'insecure-allow-anonymous', env: 'SM_INSECURE_ALLOW_ANONYMOUS' } as const;

/** The package version from package.json (dist/src/cli/args.js → the repository or image root). */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** What `session-manager --help` prints: every flag of FLAGS with its environment variable and default. */
export function startUsage(): string {
  const rows = Object.entries(FLAGS).map(([flag, f]) => [`--${flag} VALUE`, f.env, f.default === '' ? '-' : f.default]);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  return [
    'Usage: session-manager [--flag VALUE | --flag=VALUE]...',
    '',
    'Runs one session-manager node: gRPC SessionService, AdminService and health on --listen, on etcd.',
    'Every flag also reads the environment variable beside it; a flag wins over its variable.',
    '',
    `  ${'flag'.padEnd(w0)}  ${'environment'.padEnd(w1)}  default`,
    ...rows.map(([a, b, c]) => `  ${a!.padEnd(w0)}  ${b!.padEnd(w1)}  ${c}`),
    `  ${''.padEnd(w0)}  ${'SM_ETCD_PASSWORD'.padEnd(w1)}  (etcd password, with --etcd-username)`,
    `  ${''.padEnd(w0)}  ${'SM_LOG_LEVEL'.padEnd(w1)}  info`,
    `  ${'--insecure-allow-anonymous'.padEnd(w0)}  ${'SM_INSECURE_ALLOW_ANONYMOUS'.padEnd(w1)}  off (=true: every caller may do everything; local experiments only)`,
    `  ${'-h, --help'.padEnd(w0)}  ${''.padEnd(w1)}  print this and exit`,
    `  ${'-v, --version'.padEnd(w0)}  ${''.padEnd(w1)}  print the version and exit`,
    '',
    'Telemetry is configured with the standard OTEL_* variables (docs/observability.md); metrics are',
    'served on :9464/metrics by default. Exit status: 0 after SIGTERM/SIGINT, 2 bad flags, 78 bad config.',
    '',
  ].join('\n');
}

/**
 * `--help`/`-h` or `--version`/`-v` among the arguments: the text to print before exiting 0, found
 * before anything else starts (telemetry opens :9464 only after the flags are parsed); else undefined.
 */
export function helpOrVersion(argv: string[]): string | undefined {
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--help' || a === '-h') return startUsage();
    if (a === '--version' || a === '-v') return `session-manager ${packageVersion()}\n`;
  }
  return undefined;
}

/** Parses argv and env into StartArgs; throws with a message naming the bad flag. */
export function parseStartArgs(argv: string[], env: NodeJS.ProcessEnv): StartArgs {
  const { values: parsed } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }])),
      [INSECURE_ALLOW_ANONYMOUS.flag]: { type: 'boolean' as const },
    },
    strict: true,
    allowPositionals: false,
  });
  const values = parsed as Record<string, string | boolean | undefined>;
  const anonEnv = env[INSECURE_ALLOW_ANONYMOUS.env];
  if (anonEnv !== undefined && anonEnv !== '' && anonEnv !== 'true' && anonEnv !== 'false') {
    throw new Error(`${INSECURE_ALLOW_ANONYMOUS.env} must be 'true' or 'false'`);
  }
  const allowAnonymous = values[INSECURE_ALLOW_ANONYMOUS.flag] === true || anonEnv === 'true';
  const get = (k: keyof typeof FLAGS): string => (values[k] as string | undefined) ?? env[FLAGS[k].env] ?? FLAGS[k].default;
  const seconds = (k: keyof typeof FLAGS): number => {
    const v = Number(get(k));
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} (${FLAGS[k].env}) must be a number of seconds >= 0`);
    return Math.round(v * 1000);
  };
  const whole = (k: keyof typeof FLAGS, min: number): number => {
    const v = Number(get(k));
    if (!Number.isInteger(v) || v < min) throw new Error(`--${k} (${FLAGS[k].env}) must be a whole number >= ${min}`);
    return v;
  };
  const tlsOf = (): { tls?: StartArgs['tls'] } => {
    const certFile = opt('tls-cert-file');
    const keyFile = opt('tls-key-file');
    const clientCaFile = opt('tls-client-ca-file');
    if (!certFile && !keyFile && !clientCaFile) return {};
    if (!certFile || !keyFile) throw new Error('--tls-cert-file (SM_TLS_CERT_FILE) and --tls-key-file (SM_TLS_KEY_FILE) go together');
    return { tls: { certFile, keyFile, ...(clientCaFile ? { clientCaFile } : {}) } };
  };
  const endpoints = get('etcd-endpoints').split(',').map((s) => s.trim()).filter(Boolean);
  const opt = (k: keyof typeof FLAGS): string | undefined => get(k) || undefined;
  const configSource = get('config-source');
  if (configSource !== 'file' && configSource !== 'kubernetes') throw new Error(`--config-source (SM_CONFIG_SOURCE) must be 'file' or 'kubernetes'`);
  if (configSource === 'kubernetes' && !get('config-map')) throw new Error('--config-map (SM_CONFIG_MAP) is required with --config-source=kubernetes');
  const configPollMs = seconds('config-poll');
  if (configPollMs <= 0) throw new Error('--config-poll (SM_CONFIG_POLL) must be a number of seconds > 0');
  const atLeast = (k: keyof typeof FLAGS, minMs: number): number => {
    const ms = seconds(k);
    if (ms < minMs) throw new Error(`--${k} (${FLAGS[k].env}) must be at least ${minMs / 1000} s`);
    return ms;
  };
  const keepaliveTimeMs = atLeast('keepalive-time', 100);
  const keepaliveTimeoutMs = atLeast('keepalive-timeout', 100);
  const clockPublishIntervalMs = atLeast('clock-publish-interval', 100);
  return {
    listen: get('listen'),
    etcdEndpoints: endpoints,
    configPath: get('config'),
    configSource,
    configPollMs,
    configMap: opt('config-map'),
    configNamespace: opt('config-namespace'),
    nodeId: get('node-id'),
    prefix: get('etcd-prefix'),
    etcdCaFile: opt('etcd-ca-file'),
    etcdCertFile: opt('etcd-cert-file'),
    etcdKeyFile: opt('etcd-key-file'),
    etcdUsername: opt('etcd-username'),
    etcdPassword: env['SM_ETCD_PASSWORD'] || undefined,
    drainDelayMs: seconds('drain-delay'),
    shutdownGraceMs: seconds('shutdown-grace'),
    adminTokenFile: opt('admin-token-file'),
    nodeLeaseTtlSeconds: whole('node-lease-ttl', 2),
    electionTtlSeconds: whole('election-ttl', 1),
    maxStreams: whole('max-streams', 1),
    idKeyFile: opt('id-key-file'),
    ...tlsOf(),
    adminIdentities: get('admin-identities').split(',').map((s) => s.trim()).filter(Boolean),
    allowAnonymous,
    healthListen: opt('health-listen'),
    authPolicyFile: opt('auth-policy-file'),
    authPolicyPollMs: (() => {
      const ms = seconds('auth-policy-poll');
      if (ms <= 0) throw new Error('--auth-policy-poll (SM_AUTH_POLICY_POLL) must be a number of seconds > 0');
      return ms;
    })(),
    keepaliveTimeMs,
    keepaliveTimeoutMs,
    clockPublishIntervalMs,
  };
}
