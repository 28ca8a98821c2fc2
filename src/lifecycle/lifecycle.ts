import { Listeners, type Listener, type Unsubscribe } from './listeners.js';

/**
 * The events every long-running part emits. `lost` means the part lost what it holds (its watch,
 * lease, leadership, source) while running and will either recover by itself or has given up, as its
 * state says; `stopped` means stop() finished. A part never emits `lost` because it was stopped.
 */
export interface LifecycleEvents<S extends string> {
  /** A state change, in order. */
  state: [to: S, from: S];
  /** Something held was lost while running (not caused by stop()). */
  lost: [error: Error];
  /** stop() completed; nothing is emitted after this. */
  stopped: [];
}

/**
 * LongRunning is the one lifecycle contract of the project (watch feed, elector, scavenger, node
 * registry, presence tracker, config sources, the node): a documented state union `S` that starts at
 * `'new'` and ends at `'stopped'`, start()/stop(), illegal transitions throw, and typed listeners
 * with unsubscribe. `E` adds the component's own events.
 */
export interface LongRunning<S extends string, E extends { [K in keyof E]: readonly unknown[] } = Record<never, never>> {
  /** The current state. */
  readonly state: S;
  /** Subscribes to a lifecycle or component event; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<S> & E)>(event: K, fn: Listener<LifecycleEvents<S> & E, K>): Unsubscribe;
  /** Starts the part; throws IllegalTransitionError unless the state is 'new'. */
  start(): void | Promise<void>;
  /** Stops the part; idempotent; resolves when it is 'stopped'. */
  stop(): Promise<void>;
}

/** The error of a transition the state table does not allow (a programming error, never a runtime condition). */
export class IllegalTransitionError extends Error {
  /** Stable reason. */
  readonly reason = 'ILLEGAL_TRANSITION';
  constructor(
    readonly component: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`${component}: illegal transition ${from} -> ${to}`);
    this.name = 'IllegalTransitionError';
  }
}

/** A state table: for each state, the states it may move to. 'stopped' must be terminal. */
export type Transitions<S extends string> = { readonly [K in S]: readonly S[] };

/**
 * Lifecycle holds a component's state and its listeners: `to()` moves along the table or throws, and
 * emits `state`; `lost()` and `stopped()` emit the typed events. Components own one and expose
 * `state`/`on` from it, so every part reports the same way.
 */
export class Lifecycle<S extends string, E extends { [K in keyof E]: readonly unknown[] } = Record<never, never>> {
  private current: S;
  /** The listeners; components emit their own events through it. */
  readonly listeners: Listeners<LifecycleEvents<S> & E>;

  constructor(
    /** Component name used in errors ("watch feed", "elector"). */
    readonly component: string,
    private readonly table: Transitions<S>,
    initial: S,
    onListenerError?: (err: unknown) => void,
  ) {
    this.current = initial;
    this.listeners = new Listeners<LifecycleEvents<S> & E>(onListenerError);
    for (const [from, tos] of Object.entries(table) as [S, readonly S[]][]) {
      for (const to of tos) {
        if (!(to in table)) throw new Error(`${component}: transition table names unknown state ${to} (from ${from})`);
      }
    }
  }

  /** The listeners seen through the lifecycle events only (E may not narrow them). */
  private get base(): Listeners<LifecycleEvents<S>> {
    return this.listeners as unknown as Listeners<LifecycleEvents<S>>;
  }

  /** The current state. */
  get state(): S {
    return this.current;
  }

  /** Whether the table allows moving from the current state to `next`. */
  can(next: S): boolean {
    return this.table[this.current].includes(next);
  }

  /** Moves to `next`, emitting `state`; throws IllegalTransitionError if the table forbids it. Same-state is a no-op. */
  to(next: S): void {
    const from = this.current;
    if (from === next) return;
    if (!this.table[from].includes(next)) throw new IllegalTransitionError(this.component, from, next);
    this.current = next;
    this.base.emit('state', next, from);
  }

  /** Throws IllegalTransitionError unless the state is one of `allowed` (guards for start() and friends). */
  expect(action: string, ...allowed: S[]): void {
    if (!allowed.includes(this.current)) throw new IllegalTransitionError(this.component, this.current, action);
  }

  /** Emits `lost` with `error`. */
  lost(error: Error): void {
    this.base.emit('lost', error);
  }

  /** Emits `stopped`. */
  stopped(): void {
    this.base.emit('stopped');
  }

  /** Subscribes to an event; returns the unsubscribe. */
  on<K extends keyof (LifecycleEvents<S> & E)>(event: K, fn: Listener<LifecycleEvents<S> & E, K>): Unsubscribe {
    return this.listeners.on(event, fn);
  }
}
