import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ClusterPolicy } from '../domain/policy.js';
import { ConfigInvalidError } from './errors.js';
import { parseClusterConfig } from './schema.js';

/** A validated configuration with the version (content hash) it came from. */
export interface LoadedConfig {
  readonly policy: ClusterPolicy;
  /** First 12 hex digits of the SHA-256 of the file text; changes whenever the text does. */
  readonly version: string;
  readonly source: string;
}

/** Validates properties text into a LoadedConfig, or throws ConfigInvalidError naming every bad key. */
export function loadConfigText(text: string, source: string): LoadedConfig {
  const r = parseClusterConfig(text);
  if (!r.ok) throw new ConfigInvalidError(source, r.errors);
  return { policy: r.policy, version: createHash('sha256').update(text).digest('hex').slice(0, 12), source };
}

/** Reads and validates a cluster-config.properties file. */
export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  return loadConfigText(await readFile(path, 'utf8'), path);
}

/**
 * ConfigSource holds the configuration in force and tells listeners when a new valid one arrives.
 * The file loader here reads once; the Kubernetes live-reload watcher implements the same shape.
 */
export interface ConfigSource {
  current(): LoadedConfig;
  onChange(listener: (next: LoadedConfig) => void): () => void;
  /** The last rejected update, naming every bad key; '' when the last update was good. */
  lastError?(): string;
}

/** A ConfigSource with a fixed configuration (start-up file, tests). */
export class StaticConfigSource implements ConfigSource {
  constructor(private readonly config: LoadedConfig) {}
  current(): LoadedConfig {
    return this.config;
  }
  onChange(): () => void {
    return () => {};
  }
}
