/** One key=value line of a properties file, with its line number for error messages. */
export interface PropertyEntry {
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/**
 * Parses the text of a Java-style properties file: `key=value` or `key: value`, `#`/`!` comments,
 * blank lines, and trailing-backslash continuations. Keys and values are trimmed. Duplicate keys are
 * kept in order so the validator can name them.
 */
export function parseProperties(text: string): { entries: PropertyEntry[]; errors: string[] } {
  const entries: PropertyEntry[] = [];
  const errors: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const startLine = i + 1;
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1) + lines[++i]!.trim();
    }
    const sep = line.search(/[=:]/);
    if (sep <= 0) {
      errors.push(`line ${startLine}: expected key=value`);
      continue;
    }
    entries.push({ key: line.slice(0, sep).trim(), value: line.slice(sep + 1).trim(), line: startLine });
  }
  return { entries, errors };
}
