// sessionctl output: API messages made readable (enum names, human durations, ISO times, text
// bytes) and printed as JSON, YAML or tables.
import { ClientType, EndReason, EventType, IdMode, SessionState, Verdict } from '@session-manager/client';

/** Output formats of sessionctl `-o`. */
export const OUTPUT_FORMATS = ['json', 'yaml', 'table'] as const;
/** One output format. */
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const ENUMS: Record<string, [Record<number, string>, string]> = {
  clientType: [ClientType as unknown as Record<number, string>, 'CLIENT_TYPE_'],
  state: [SessionState as unknown as Record<number, string>, 'SESSION_STATE_'],
  endReason: [EndReason as unknown as Record<number, string>, 'END_REASON_'],
  verdict: [Verdict as unknown as Record<number, string>, 'VERDICT_'],
  idMode: [IdMode as unknown as Record<number, string>, 'ID_MODE_'],
  type: [EventType as unknown as Record<number, string>, 'EVENT_TYPE_'],
};

/** Formats a number of milliseconds as a short human duration: 1d2h, 30m, 1m30s, 250ms, 0s. */
export function humanDuration(ms: number): string {
  if (ms < 0) return `-${humanDuration(-ms)}`;
  if (ms === 0) return '0s';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.slice(0, 2).join('');
}

/** Parses a duration flag: `10s`, `500ms`, `2m`, `1h`, or a plain number of seconds; returns ms. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 10s, 500ms, 2m)`);
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
}

function bytesText(b: Uint8Array): string {
  const text = Buffer.from(b).toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text, 'utf8').equals(Buffer.from(b)) && !/[\u0000-\u0008\u000e-\u001f]/.test(text) ? text : `base64:${Buffer.from(b).toString('base64')}`;
}

/** Converts an API value to plain JSON data: enum names, durations as text, dates as ISO strings. */
export function plain(value: unknown, key = ''): unknown {
  if (value === null || value === undefined) return value;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return bytesText(value);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v, String(k))]));
  if (Array.isArray(value)) return value.map((v) => plain(v, key));
  if (typeof value === 'number' && ENUMS[key]) {
    const [e, prefix] = ENUMS[key]!;
    const name = e[value];
    if (typeof name !== 'string') return value;
    const short = name.slice(prefix.length);
    return key === 'clientType' ? short.toLowerCase() : short;
  }
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 2 && typeof o['seconds'] === 'number' && typeof o['nanos'] === 'number') return humanDuration((o['seconds'] as number) * 1000 + (o['nanos'] as number) / 1e6);
    return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, plain(o[k], k)]));
  }
  return value;
}

/** YAML for plain data (strings quoted only when YAML would misread them). */
export function toYaml(value: unknown, indent = ''): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return /^[\w./@:+-][\w ./@:+,-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~)$/i.test(value) && !Number.isFinite(Number(value)) && !/:\s|\s$/.test(value) ? value : JSON.stringify(value);
  if (typeof value !== 'object') return String(value);
  const next = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return value
      .map((v) => {
        const body = toYaml(v, next);
        return `\n${indent}- ${typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length ? body.replace(/^\n\s*/, '') : body}`;
      })
      .join('');
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return entries
    .map(([k, v]) => {
      const body = toYaml(v, next);
      return `\n${indent}${k}:${body.startsWith('\n') ? body : ` ${body}`}`;
    })
    .join('');
}

/** Renders rows as an aligned table with an upper-case header. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === undefined || c === null || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ');
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Flattens plain data into dotted FIELD/VALUE rows for a single-object table. */
export function fieldRows(value: unknown, prefix = ''): string[][] {
  if (value === null || typeof value !== 'object' || (Array.isArray(value) && value.some((v) => typeof v === 'object'))) {
    return [[prefix, Array.isArray(value) ? JSON.stringify(value) : String(value)]];
  }
  if (Array.isArray(value)) return [[prefix, value.join(', ')]];
  return Object.entries(value).flatMap(([k, v]) => fieldRows(v, prefix ? `${prefix}.${k}` : k));
}

/** Age of an ISO time relative to now, kubectl style (`5m`, `2d3h`). */
export function age(iso: unknown, now = Date.now()): string {
  if (typeof iso !== 'string') return '';
  return humanDuration(Math.max(0, now - Date.parse(iso)));
}

/** Prints plain data in the chosen format; `tabular` renders the table form when the format is table. */
export function render(data: unknown, format: OutputFormat, tabular?: () => string): string {
  if (format === 'json') return JSON.stringify(data, null, 2);
  if (format === 'yaml') return toYaml(data).replace(/^\n/, '');
  return tabular ? tabular() : table(['FIELD', 'VALUE'], fieldRows(data));
}
