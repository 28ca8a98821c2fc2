import { CLIENT_TYPES, isClientType, type ClientType } from '../domain/client-type.js';
import { IDLE_CONNECTION_BOUND, IDLE_NEVER, type ClusterPolicy, type LimitAction } from '../domain/policy.js';
import { parseTime } from './duration.js';
import { parseProperties } from './properties.js';

/** Default idle timeouts in minutes (-1 = connection-bound), per SPEC rule 1 and 6. */
export const DEFAULT_TIMEOUTS: Readonly<Record<ClientType, string>> = {
  web: '30',
  desktop: '-1',
  plugin: '-1',
  mobile: '60',
  widget: '60',
  api: '30',
  admin: '1440',
};

/** Every scalar key with its default text; `session.timeout.<type>` and `session.limit.per-user.<type>` are added below. */
export const DEFAULTS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(CLIENT_TYPES.map((t) => [`session.timeout.${t}`, DEFAULT_TIMEOUTS[t]])),
  'session.timeout.single-request': '5',
  'session.timeout.absolute': '1440',
  'session.presence.grace': '1',
  'session.connection.grace': '1',
  'session.single-per-user': 'web',
  ...Object.fromEntries(CLIENT_TYPES.map((t) => [`session.limit.per-user.${t}`, '0'])),
  'session.limit.action': 'deny',
  'session.hit-max': '0',
  'session.max-sessions': '0',
  'session.scavenge.interval': '5',
  'session.touch.granularity': 'auto',
  'session.sites': '*',
  'session.attributes.max-bytes': '65536',
  'session.attributes.max-count': '64',
  'cache.max-staleness': '5s',
  'events.retention': '24h',
  'cluster.max-clock-skew': '5s',
  'session.persistent.types': 'web,mobile,desktop',
  'session.persistent.lifetime': '30d',
  'session.persistent.idle': '14d',
  'session.persistent.reuse-grace': '10s',
};

/** Upper bound for session.attributes.max-bytes: etcd refuses requests over 1.5 MiB. */
export const ATTRIBUTE_MAX_BYTES_LIMIT = 1024 * 1024;
/** Upper bound for session.attributes.max-count: all of a session's keys must fit in one txn (128 ops). */
export const ATTRIBUTE_MAX_COUNT_LIMIT = 100;

/** The result of validating a properties text: a policy, or every problem found. */
export type ConfigResult = { ok: true; policy: ClusterPolicy } | { ok: false; errors: string[] };

/**
 * Parses and validates cluster-config.properties (SPEC rule 16). Pure: the same text always gives the
 * same result. A file with any invalid value is rejected as a whole, naming every bad key.
 */
export function parseClusterConfig(text: string): ConfigResult {
  const { entries, errors } = parseProperties(text);
  const raw: Record<string, string> = { ...DEFAULTS };
  const seen = new Set<string>();
  for (const e of entries) {
    if (!(e.key in DEFAULTS)) {
      errors.push(`${e.key}: unknown key (line ${e.line})`);
      continue;
    }
    if (seen.has(e.key)) errors.push(`${e.key}: set more than once (line ${e.line})`);
    seen.add(e.key);
    raw[e.key] = e.value;
  }
  const bad = (key: string, problem: string): null => {
    errors.push(`${key}: ${problem} (got ${JSON.stringify(raw[key])})`);
    return null;
  };

  const time = (key: string, min: number, allowNever = false): number | null => {
    const v = raw[key]!;
    if (allowNever && v === 'never') return 0;
    const ms = parseTime(v);
    if (ms === null) return bad(key, 'expected a time: minutes, or a number with ms, s, m, h or d');
    if (ms < min) return bad(key, min > 0 ? 'must be greater than 0' : 'must not be negative');
    return ms;
  };
  const int = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null => {
    const v = raw[key]!;
    if (!/^-?\d+$/.test(v)) return bad(key, 'expected a whole number');
    const n = Number(v);
    if (n < min || n > max) return bad(key, `must be between ${min} and ${max}`);
    return n;
  };
  const idle = (type: ClientType): number | null => {
    const key = `session.timeout.${type}`;
    const v = raw[key]!;
    if (v === 'never') return IDLE_NEVER;
    const ms = parseTime(v);
    if (ms === null) return bad(key, "expected a time, -1 or 'never'");
    if (type === 'web') return ms <= 0 ? 30 * 60_000 : ms; // Elvis: any value <= 0 means 30
    if (v === '-1') return IDLE_CONNECTION_BOUND;
    if (ms <= 0) return bad(key, "must be greater than 0, -1 (connection-bound) or 'never'");
    return ms;
  };
  const typeList = (key: string): Set<ClientType> | null => {
    const v = raw[key]!;
    const items = v === '' ? [] : v.split(',').map((s) => s.trim());
    const unknown = items.filter((s) => !isClientType(s));
    if (unknown.length > 0) return bad(key, `unknown client type(s) ${unknown.join(', ')}`);
    return new Set(items as ClientType[]);
  };

  const idleTimeoutMs = {} as Record<ClientType, number>;
  const limitPerUser = {} as Record<ClientType, number>;
  for (const t of CLIENT_TYPES) {
    idleTimeoutMs[t] = idle(t) ?? 0;
    limitPerUser[t] = int(`session.limit.per-user.${t}`, 0) ?? 0;
  }
  const action = raw['session.limit.action'];
  if (action !== 'deny' && action !== 'terminate-oldest') bad('session.limit.action', "expected 'deny' or 'terminate-oldest'");
  const granularityText = raw['session.touch.granularity'];
  const touchGranularityMs = granularityText === 'auto' ? null : time('session.touch.granularity', 1);
  const sitesText = raw['session.sites']!;
  let sites: Set<string> | null = null;
  if (sitesText !== '*') {
    const items = sitesText.split(',').map((s) => s.trim());
    if (items.some((s) => s === '' || s === '*')) bad('session.sites', "expected '*' or a comma-separated list of site names");
    sites = new Set(items);
  }

  const policy: ClusterPolicy = {
    idleTimeoutMs,
    singleRequestMs: time('session.timeout.single-request', 0) ?? 0,
    absoluteMs: time('session.timeout.absolute', 0, true) ?? 0,
    presenceGraceMs: time('session.presence.grace', 0) ?? 0,
    connectionGraceMs: time('session.connection.grace', 0) ?? 0,
    singlePerUser: typeList('session.single-per-user') ?? new Set(),
    limitPerUser,
    limitAction: action as LimitAction,
    hitMax: int('session.hit-max', 0) ?? 0,
    maxSessions: int('session.max-sessions', 0) ?? 0,
    scavengeIntervalMs: time('session.scavenge.interval', 1) ?? 0,
    touchGranularityMs,
    sites,
    attributeMaxBytes: int('session.attributes.max-bytes', 1, ATTRIBUTE_MAX_BYTES_LIMIT) ?? 0,
    attributeMaxCount: int('session.attributes.max-count', 1, ATTRIBUTE_MAX_COUNT_LIMIT) ?? 0,
    cacheMaxStalenessMs: time('cache.max-staleness', 1) ?? 0,
    eventsRetentionMs: time('events.retention', 1) ?? 0,
    maxClockSkewMs: time('cluster.max-clock-skew', 1) ?? 0,
    persistentTypes: typeList('session.persistent.types') ?? new Set(),
    persistentLifetimeMs: time('session.persistent.lifetime', 1) ?? 0,
    persistentIdleMs: time('session.persistent.idle', 1) ?? 0,
    persistentReuseGraceMs: time('session.persistent.reuse-grace', 0) ?? 0,
  };
  if (policy.persistentReuseGraceMs > 60_000) bad('session.persistent.reuse-grace', 'must be at most 60s');
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, policy };
}

/** The policy with every default; what an empty file gives. */
export function defaultClusterPolicy(): ClusterPolicy {
  const r = parseClusterConfig('');
  if (!r.ok) throw new Error(`config: defaults invalid: ${r.errors.join('; ')}`);
  return r.policy;
}
