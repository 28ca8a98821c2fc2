import type { LoadedConfig } from '../domain/ports.js';
import { IllegalTransitionError, Lifecycle, type LifecycleEvents, type LongRunning, type Transitions } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import { ReloadableConfig, type ConfigLog } from './reloadable-config.js';

/**
 * Lifecycle of a live config source (file or Kubernetes): `new` until start(); `running` while it
 * watches (it keeps the last good config through any trouble and recovers by itself); `stopped`
 * after stop() (terminal). start() is allowed once.
 */
export type ConfigSourceState = 'new' | 'running' | 'stopped';

const TRANSITIONS: Transitions<ConfigSourceState> = { new: ['running', 'stopped'], running: ['stopped'], stopped: [] };

/**
 * Throws unless every named option is a non-empty string: the required-field check both sources
 * share, with the source's own message per field (they name the flag or env var to set).
 */
export function requireOptions(checks: readonly (readonly [value: string | undefined, message: string])[]): void {
  for (const [value, message] of checks) if (!value) throw new Error(message);
}

/**
 * LiveConfigSource is the shared lifecycle of the file and Kubernetes sources on the one contract
 * of src/lifecycle: validate-then-apply from ReloadableConfig, `lost` when the source became
 * unreadable (the last good config stays in force; the source keeps trying), `stopped` after stop().
 * Subclasses implement begin() and end().
 */
export abstract class LiveConfigSource extends ReloadableConfig implements LongRunning<ConfigSourceState> {
  private readonly life: Lifecycle<ConfigSourceState>;
  /** Whether the source is unreadable now (so `lost` is emitted once per outage). */
  private unreadable = false;

  constructor(
    /** What errors call this kind of source ("FileConfigSource"). */
    private readonly kind: string,
    initial: LoadedConfig,
    log?: ConfigLog,
  ) {
    super(initial, log);
    this.life = new Lifecycle<ConfigSourceState>(`config ${kind}`, TRANSITIONS, 'new', (err) => this.log?.warn({ err: (err as Error).message }, 'config listener failed'));
  }

  /** The current state. */
  get state(): ConfigSourceState {
    return this.life.state;
  }

  /** Subscribes to `state`, `lost` or `stopped`; returns the unsubscribe. */
  on<K extends keyof LifecycleEvents<ConfigSourceState>>(event: K, fn: Listener<LifecycleEvents<ConfigSourceState>, K>): Unsubscribe {
    return this.life.on(event, fn);
  }

  /** Starts watching. Throws IllegalTransitionError unless `new`. */
  start(): void {
    if (this.life.state !== 'new') {
      const err = new IllegalTransitionError(`config ${this.kind}`, this.life.state, 'running');
      err.message = `config: cannot start a ${this.kind} that is ${this.life.state}`;
      throw err;
    }
    this.life.to('running');
    this.begin();
  }

  /** Stops watching; resolves once the source's loop has ended; emits `stopped`. Idempotent. */
  async stop(): Promise<void> {
    if (this.life.state === 'stopped') return;
    this.life.to('stopped');
    try {
      await this.end();
    } finally {
      this.life.stopped();
    }
  }

  /** True once stop() was called (reads in flight are then discarded). */
  protected get isStopped(): boolean {
    return this.life.state === 'stopped';
  }

  /** True while running. */
  protected get isRunning(): boolean {
    return this.life.state === 'running';
  }

  /** Reports that the source could not be read; emits `lost` at the start of an outage only. */
  protected sourceLost(error: Error): void {
    if (this.unreadable || !this.isRunning) return;
    this.unreadable = true;
    this.life.lost(error);
  }

  /** Reports that the source was read again (ends an outage). */
  protected sourceBack(): void {
    this.unreadable = false;
  }

  /** Starts the source's watching (called once, from start()). */
  protected abstract begin(): void;

  /** Ends the source's watching; resolves when nothing more will be read. */
  protected abstract end(): Promise<void>;
}
