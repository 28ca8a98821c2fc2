import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LoadedConfig } from '../domain/ports.js';
import { pollEvery } from '../lifecycle/scheduler.js';
import { LiveConfigSource, requireOptions, type ConfigSourceState } from './live-source.js';
import type { ConfigLog, OfferOutcome } from './reloadable-config.js';

/** Options of FileConfigSource; defaults in the field comments. */
export interface FileConfigSourceOptions {
  /** The properties file, inside the mounted ConfigMap directory. Required. */
  path: string;
  /** Interval of the content-hash poll, the safety net under the directory watch. Default 10 s. */
  pollMs?: number;
  /** Watch the file's directory for changes. Default true; false leaves only the poll. */
  watchDirectory?: boolean;
  /** How long to let the burst of events of one symlink swap settle before reading. Default 100 ms. */
  settleMs?: number;
  log?: ConfigLog;
}

/** Lifecycle of a FileConfigSource: the one state union of the live config sources. */
export type FileConfigSourceState = ConfigSourceState;

/**
 * FileConfigSource reloads cluster-config.properties from a mounted ConfigMap directory. kubelet
 * updates such a mount by writing a new timestamped directory and renaming a `..data_tmp` symlink
 * over `..data`, so the file's inode never changes: watching the file would miss every update.
 * This source watches the directory instead, and polls the content hash as a safety net for
 * filesystems without inotify and for watchers that die.
 */
export class FileConfigSource extends LiveConfigSource {
  private readonly path: string;
  private readonly dir: string;
  private readonly pollMs: number;
  private readonly settleMs: number;
  private readonly watchDirectory: boolean;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  /** Reads run one after another, so a slow read never applies after a newer one. */
  private chain: Promise<unknown> = Promise.resolve();
  private readError = '';
  private watchError = '';

  constructor(initial: LoadedConfig, options: FileConfigSourceOptions) {
    super('FileConfigSource', initial, options.log);
    requireOptions([[options.path, 'config: FileConfigSource needs a path']]);
    this.pollMs = options.pollMs ?? 10_000;
    this.settleMs = options.settleMs ?? 100;
    if (!(this.pollMs > 0)) throw new Error('config: pollMs must be greater than 0');
    if (!(this.settleMs >= 0)) throw new Error('config: settleMs must not be negative');
    this.path = options.path;
    this.dir = dirname(options.path);
    this.watchDirectory = options.watchDirectory ?? true;
  }

  /** Starts watching and polling, and checks the file once at once (it may have changed since it was loaded). */
  protected begin(): void {
    this.ensureWatcher();
    this.pollTimer = pollEvery(this.pollMs, () => {
      this.ensureWatcher();
      void this.check();
    });
    void this.check();
  }

  /** Closes the watcher and the timers; a read in flight is discarded. */
  protected end(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    clearTimeout(this.settleTimer);
    return Promise.resolve();
  }

  /** Reads the file now and applies it if it changed; `unreadable` if it could not be read. */
  check(): Promise<OfferOutcome | 'unreadable' | 'stopped'> {
    const run = this.chain.then(() => this.readOnce());
    this.chain = run.catch(() => {});
    return run;
  }

  private async readOnce(): Promise<OfferOutcome | 'unreadable' | 'stopped'> {
    if (this.isStopped) return 'stopped';
    let text: string;
    try {
      // Through the symlinks: during a swap this reads either the old or the new file, never a mix.
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.readError) this.log?.warn({ config: this.path, err: msg }, 'config file unreadable; keeping the config in force');
      this.readError = msg;
      this.sourceLost(err as Error);
      return 'unreadable';
    }
    this.readError = '';
    this.sourceBack();
    if (this.isStopped) return 'stopped'; // stop() ran during the read
    return this.offer(text, this.path);
  }

  /** (Re)creates the directory watcher; after an error the poll retries it each interval. */
  private ensureWatcher(): void {
    if (!this.watchDirectory || this.watcher || !this.isRunning) return;
    try {
      const w = watch(this.dir, { persistent: false }, () => this.settleThenCheck());
      w.on('error', (err) => {
        this.log?.warn({ dir: this.dir, err: err.message }, 'config directory watch failed; polling only until it can be re-established');
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
      this.watchError = '';
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.watchError) this.log?.warn({ dir: this.dir, err: msg }, 'cannot watch the config directory; polling only');
      this.watchError = msg;
    }
  }

  private settleThenCheck(): void {
    if (this.settleTimer || !this.isRunning) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.check();
    }, this.settleMs);
    this.settleTimer.unref();
  }
}
