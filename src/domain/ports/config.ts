// Ports of the configuration: the live cluster config, and the Kubernetes ConfigMap it may come from.
import type { ClusterPolicy } from '../policy.js';

/** A validated configuration with the version (content hash) it came from. */
export interface LoadedConfig {
  readonly policy: ClusterPolicy;
  /** First 12 hex digits of the SHA-256 of the properties text; changes whenever the text does. */
  readonly version: string;
  /** Where it was read from (a path, `configmap ns/name`, `test`). */
  readonly source: string;
}

/**
 * ConfigSource holds the configuration in force and tells listeners when a new valid one arrives
 * (SPEC rule 16). Implemented by a fixed source (start-up file, tests) and the live file and
 * Kubernetes sources in config/.
 */
export interface ConfigSource {
  /** The configuration in force. */
  current(): LoadedConfig;
  /** Calls `listener` with each new valid configuration; returns the unsubscribe. */
  onChange(listener: (next: LoadedConfig) => void): () => void;
  /** The last rejected update, naming every bad key; '' when the last update was good. */
  lastError?(): string;
}

/** SessionStore is the port through which the core reads and writes sessions (etcd in production). */

/** The part of a ConfigMap the source reads. */
export interface ConfigMapObject {
  metadata?: { name?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

/** Ends a watch started by ConfigMapClient.watch. */
export interface WatchHandle {
  abort(): void;
}

/**
 * ConfigMapClient is the narrow list+watch port of one named ConfigMap; both calls filter with
 * `fieldSelector=metadata.name=<name>`, because RBAC `resourceNames` only allows list and watch
 * with that selector. configmap-client.ts adapts @kubernetes/client-node to it; tests inject fakes.
 */
export interface ConfigMapClient {
  /** Lists the ConfigMap (zero or one item) and the list's resourceVersion to watch from. */
  list(): Promise<{ items: ConfigMapObject[]; resourceVersion: string }>;
  /**
   * Watches from `resourceVersion`: `onEvent(type, object)` for ADDED, MODIFIED, DELETED, BOOKMARK
   * and ERROR (object is then a Status), `onDone(err)` once when the stream ends (err null for a
   * clean server-side close).
   */
  watch(resourceVersion: string, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
}
