import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConfigSource, LoadedConfig } from '../domain/ports.js';
import { ConfigInvalidError } from './errors.js';
import { parseClusterConfig } from './schema.js';

/** The content hash LoadedConfig.version is made of (first 12 hex digits of SHA-256 of the text). */
export function configVersionOf(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** Validates properties text into a LoadedConfig, or throws ConfigInvalidError naming every bad key. */
export function loadConfigText(text: string, source: string): LoadedConfig {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new ConfigInvalidError(source, r.errors);
  return { policy: r.policy, version: configVersionOf(text), source };
}

/** Reads and validates a cluster-config.properties file. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  return loadConfigText(await readFile(path, 'utf8'), path);
}

/** A ConfigSource with a fixed configuration (start-up file, tests). */
export class StaticConfigSource implements ConfigSource {
  constructor(private readonly config: LoadedConfig) {}
  /** The fixed configuration. */
  current(): LoadedConfig {
    return this.config;
  }
  /** Never calls the listener: the configuration never changes. */
  onChange(): () => void {
    return () => {};
  }
}
