import type { ConfigSource, LoadedConfig } from '../domain/ports.js';
import { Listeners } from '../lifecycle/listeners.js';
import { ConfigInvalidError } from './errors.js';
import { configVersionOf, loadConfigText } from './loader.js';

/** The narrow logger the config sources write to; a pino Logger satisfies it. */
export interface ConfigLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/**
 * What one offered update did: `applied` (valid and new: now current), `rejected` (invalid: the last
 * good config stays), `unchanged` (same content as the last update seen: nothing happens), or
 * `restored` (back to the content already in force after a rejection: the error is cleared).
 */
export type OfferOutcome = 'applied' | 'rejected' | 'unchanged' | 'restored';

/** What a reloadable config reports: a new valid configuration, or a rejected update. */
export interface ConfigUpdateEvents {
  change: [next: LoadedConfig];
  reject: [error: ConfigInvalidError];
}

/**
 * ReloadableConfig is the validate-then-apply core shared by the file and Kubernetes sources
 * (SPEC rule 16): an update becomes current only if the whole text is valid; otherwise the last good
 * configuration stays in force and the error, naming every bad key, is kept for lastError(), logged
 * and handed to onReject listeners.
 */
export class ReloadableConfig implements ConfigSource {
  private config: LoadedConfig;
  private error = '';
  /** Content hash of the last update seen, good or bad, so a repeated one is neither re-applied nor re-logged. */
  private lastSeen: string;
  /** A faulty listener must not stop the others or undo the update: it is logged and skipped. */
  private readonly updates: Listeners<ConfigUpdateEvents>;

  constructor(
    initial: LoadedConfig,
    protected readonly log?: ConfigLog,
  ) {
    this.config = initial;
    this.lastSeen = initial.version;
    this.updates = new Listeners<ConfigUpdateEvents>((err) => this.log?.warn({ err: (err as Error).message }, 'config listener failed'));
  }

  /** The configuration in force. */
  current(): LoadedConfig {
    return this.config;
  }

  /** The last rejected update, naming every bad key; '' when the last update was good. */
  lastError(): string {
    return this.error;
  }

  /** Calls `listener` with each new valid configuration; returns the unsubscribe. */
  onChange(listener: (next: LoadedConfig) => void): () => void {
    return this.updates.on('change', listener);
  }

  /** Called with the error of each rejected update (not again for a repeat of the same text). */
  onReject(listener: (error: ConfigInvalidError) => void): () => void {
    return this.updates.on('reject', listener);
  }

  /** Validates `text` (read from `source`) and applies it if valid. */
  offer(text: string, source: string): OfferOutcome {
    const version = configVersionOf(text);
    if (version === this.lastSeen) return 'unchanged';
    this.lastSeen = version;
    if (version === this.config.version) {
      // Reverted to what is in force (after a rejected update): nothing to apply, the error is over.
      this.error = '';
      this.log?.info({ config: source, version }, 'config back to the version in force; error cleared');
      return 'restored';
    }
    let next: LoadedConfig;
    try {
      next = loadConfigText(text, source);
    } catch (err) {
      if (!(err instanceof ConfigInvalidError)) throw err;
      this.rejectWith(err);
      return 'rejected';
    }
    const previous = this.config.version;
    this.config = next;
    this.error = '';
    this.log?.info({ config: source, version: next.version, previous }, 'config reloaded; applies to new sessions');
    this.updates.emit('change', next);
    return 'applied';
  }

  /**
   * Rejects an update that has no text to validate (a ConfigMap without the key, or deleted), with
   * the same reporting as an invalid text. Repeats of the same problems are reported once.
   */
  reject(source: string, problems: readonly string[]): void {
    const seen = `problems:${problems.join('\n')}`;
    if (seen === this.lastSeen) return;
    this.lastSeen = seen;
    this.rejectWith(new ConfigInvalidError(source, problems));
  }

  private rejectWith(err: ConfigInvalidError): void {
    this.error = err.message;
    this.log?.warn({ problems: err.problems, version: this.config.version }, `${err.message}; keeping config version ${this.config.version}`);
    this.updates.emit('reject', err);
  }
}

/** Where forwardConfigEvents reports: a node's telemetry events (app/node-events.ts) satisfy it. */
export interface ConfigEventSink {
  emit(event: 'config-applied', version: string): unknown;
  emit(event: 'config-rejected', problems: readonly string[]): unknown;
}

/**
 * Reports a source's outcomes on a node's telemetry events: `config-applied` with the new version,
 * `config-rejected` with every problem. Returns the unsubscribe function.
 */
export function forwardConfigEvents(source: Pick<ReloadableConfig, 'onChange' | 'onReject'>, events: ConfigEventSink): () => void {
  const offChange = source.onChange((c) => events.emit('config-applied', c.version));
  const offReject = source.onReject((e) => events.emit('config-rejected', e.problems));
  return () => {
    offChange();
    offReject();
  };
}
