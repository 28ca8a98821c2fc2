const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a configuration time: an integer that is minutes unless suffixed with `ms`, `s`, `m`, `h` or
 * `d` (SPEC rule 16). Returns the value in milliseconds, or null when the text is not a time. A
 * leading minus is accepted so callers can apply their own rules to negative values.
 */
export function parseTime(text: string): number | null {
  const m = /^(-?\d+)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (!Number.isSafeInteger(n)) return null;
  const ms = n * UNIT_MS[m[2] ?? 'm']!;
  return Number.isSafeInteger(ms) ? ms : null;
}
