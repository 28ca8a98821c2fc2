import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Lifecycle, type LifecycleEvents, type LongRunning, type Transitions } from '../lifecycle/lifecycle.js';
import type { Listener, Unsubscribe } from '../lifecycle/listeners.js';
import { pollEvery } from '../lifecycle/scheduler.js';
import { parsePolicy, PolicyInvalidError, policyVersionOf, type CallerPolicy } from './policy.js';

/** The narrow logger the policy source writes to; a pino Logger satisfies it. */
export interface PolicyLog {
  /** A reload, or a return to the policy in force. */
  info(fields: object, msg: string): void;
  /** Something degraded but still working. */
  warn(fields: object, msg: string): void;
  /** A rejected update (the last good policy stays in force). */
  error(fields: object, msg: string): void;
}

/** Options of PolicyFileSource; defaults in the field comments. */
export interface PolicyFileSourceOptions {
  /** The policy file (JSON), e.g. inside a mounted Secret. Required. */
  path: string;
  /** Interval of the content poll under the directory watch. Default 10 s. */
  pollMs?: number;
  /** How long a burst of directory events settles before the file is read. Default 100 ms. */
  settleMs?: number;
  /** Where reloads and rejected updates are logged. Default: not logged. */
  log?: PolicyLog;
}

/**
 * States of PolicyFileSource: `new` (loaded, not watching), `running` (watching and polling),
 * `stopped` (no more reloads; the last policy stays readable).
 */
export type PolicyFileSourceState = 'new' | 'running' | 'stopped';

/** Events of PolicyFileSource besides the lifecycle ones: each applied policy, each rejected update's problems. */
export interface PolicyFileSourceEvents {
  /** A valid update was applied. */
  change: [policy: CallerPolicy];
  /** An update was refused, with every problem found (once per distinct bad text). */
  reject: [problems: readonly string[]];
}

type PolicySourceEventMap = LifecycleEvents<PolicyFileSourceState> & PolicyFileSourceEvents;

const TRANSITIONS: Transitions<PolicyFileSourceState> = { new: ['running', 'stopped'], running: ['stopped'], stopped: [] };

/**
 * PolicyFileSource loads the caller policy at start (an unreadable or invalid file stops the start)
 * and reloads it live like the cluster config: the file's directory is watched (kubelet swaps
 * Secret mounts by symlink) and polled; an update is applied only if the whole file is valid,
 * otherwise the last good policy stays in force and the error is kept, logged and reported. It keeps
 * the one lifecycle contract (LongRunning: new -> running -> stopped) with typed `change` and
 * `reject` events.
 */
export class PolicyFileSource implements LongRunning<PolicyFileSourceState, PolicyFileSourceEvents> {
  private policy: CallerPolicy;
  private error = '';
  private lastSeen: string;
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly pollMs: number;
  private readonly settleMs: number;
  private readonly lifecycle = new Lifecycle<PolicyFileSourceState, PolicyFileSourceEvents>('policy source', TRANSITIONS, 'new');

  constructor(private readonly options: PolicyFileSourceOptions) {
    if (!options.path) throw new Error('auth: the policy source needs a path');
    this.pollMs = options.pollMs ?? 10_000;
    this.settleMs = options.settleMs ?? 100;
    if (!(this.pollMs > 0)) throw new Error('auth: policy pollMs must be greater than 0');
    if (!(this.settleMs >= 0)) throw new Error('auth: policy settleMs must not be negative');
    let text: string;
    try {
      text = readFileSync(options.path, 'utf8');
    } catch (err) {
      throw new Error(`auth: cannot read the caller policy ${options.path}: ${(err as Error).message}`);
    }
    this.policy = parsePolicy(text, options.path, dirname(options.path));
    this.lastSeen = this.policy.version;
  }

  /** The policy in force. */
  current(): CallerPolicy {
    return this.policy;
  }

  /** The last rejected update, naming every problem; '' when the last update was good. */
  lastError(): string {
    return this.error;
  }

  /** The lifecycle state. */
  get state(): PolicyFileSourceState {
    return this.lifecycle.state;
  }

  /** Subscribes to a lifecycle event or to `change` / `reject`; returns the unsubscribe. */
  on<K extends keyof PolicySourceEventMap>(event: K, fn: Listener<PolicySourceEventMap, K>): Unsubscribe {
    return this.lifecycle.on(event, fn);
  }

  /** Called with each applied policy (the `change` event). */
  onChange(listener: (p: CallerPolicy) => void): Unsubscribe {
    return this.lifecycle.on('change', listener);
  }

  /** Called with the problems of each rejected update, once per distinct bad text (the `reject` event). */
  onReject(listener: (problems: readonly string[]) => void): Unsubscribe {
    return this.lifecycle.on('reject', listener);
  }

  /** Starts the directory watch and the poll; throws IllegalTransitionError unless the state is `new`. */
  start(): void {
    this.lifecycle.expect('start', 'new');
    this.lifecycle.to('running');
    this.ensureWatcher();
    this.pollTimer = pollEvery(this.pollMs, () => {
      this.ensureWatcher();
      void this.check();
    });
  }

  /** Stops watching and polling. Idempotent; resolves when the state is `stopped`. */
  async stop(): Promise<void> {
    if (this.lifecycle.state === 'stopped') return;
    this.watcher?.close();
    this.watcher = undefined;
    clearInterval(this.pollTimer);
    clearTimeout(this.settleTimer);
    this.lifecycle.to('stopped');
    this.lifecycle.stopped();
  }

  /** Reads the file now; applies it if changed and valid. */
  async check(): Promise<'applied' | 'rejected' | 'unchanged' | 'unreadable'> {
    let text: string;
    try {
      text = await readFile(this.options.path, 'utf8');
    } catch (err) {
      return this.reject(`unreadable: ${(err as Error).message}`, [`cannot read ${this.options.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`])
        ? 'unreadable'
        : 'unchanged';
    }
    const version = policyVersionOf(text);
    if (version === this.lastSeen) return 'unchanged';
    this.lastSeen = version;
    if (version === this.policy.version) {
      this.error = '';
      this.options.log?.info({ policy: this.options.path, version }, 'caller policy back to the version in force; error cleared');
      return 'unchanged';
    }
    let next: CallerPolicy;
    try {
      next = parsePolicy(text, this.options.path, dirname(this.options.path));
    } catch (err) {
      if (!(err instanceof PolicyInvalidError)) throw err;
      this.rejectWith(err.problems);
      return 'rejected';
    }
    const previous = this.policy.version;
    this.policy = next;
    this.error = '';
    this.options.log?.info({ policy: this.options.path, version: next.version, previous }, 'caller policy reloaded');
    this.lifecycle.listeners.emit('change', next);
    return 'applied';
  }

  private reject(seen: string, problems: readonly string[]): boolean {
    if (seen === this.lastSeen) return false;
    this.lastSeen = seen;
    this.rejectWith(problems);
    return true;
  }

  private rejectWith(problems: readonly string[]): void {
    this.error = new PolicyInvalidError(this.options.path, problems).message;
    this.options.log?.error({ problems, version: this.policy.version }, `${this.error}; keeping caller policy version ${this.policy.version}`);
    this.lifecycle.listeners.emit('reject', problems);
  }

  private ensureWatcher(): void {
    if (this.watcher || this.lifecycle.state !== 'running') return;
    try {
      const w = watch(dirname(this.options.path), { persistent: false }, () => this.settleThenCheck());
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      // Polling only until the directory can be watched.
    }
  }

  private settleThenCheck(): void {
    if (this.settleTimer || this.lifecycle.state !== 'running') return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.check();
    }, this.settleMs);
    this.settleTimer.unref();
  }
}
