/** A stored listener, untyped inside the registry (the public methods carry the types). */
type AnyListener = (...args: readonly unknown[]) => void;

/** Removes the listener it was returned for; calling it twice is harmless. */
export type Unsubscribe = () => void;

/** A listener for event `E` of map `M`: the event's arguments, no return value. */
export type Listener<M, E extends keyof M> = M[E] extends readonly unknown[] ? (...args: M[E]) => void : never;

/**
 * Listeners is the one listener style of the project: typed by an event map, `on` returns its own
 * unsubscribe, and a listener that throws is isolated (reported to `onError`) so it cannot break the
 * component that emits. Chosen over EventEmitter because an untyped `'error'` event crashes the
 * process when nobody listens, and `off` needs the same function reference kept by the caller.
 */
export class Listeners<M extends { [K in keyof M]: readonly unknown[] }> {
  private readonly byEvent = new Map<keyof M, Set<AnyListener>>();
  /** Per event, the listeners as an array, rebuilt after on/off: emit (hot: every call) allocates nothing. */
  private readonly snapshots = new Map<keyof M, readonly AnyListener[]>();

  /** @param onError receives a listener's exception (default: rethrown asynchronously, like a timer). */
  constructor(private readonly onError: (err: unknown) => void = (err) => queueMicrotask(() => { throw err; })) {}

  /** Adds a listener for `event`; the returned function removes it. */
  on<E extends keyof M>(event: E, fn: Listener<M, E>): Unsubscribe {
    let set = this.byEvent.get(event);
    if (!set) this.byEvent.set(event, (set = new Set()));
    const f = fn as unknown as AnyListener;
    set.add(f);
    this.snapshots.delete(event);
    return () => {
      if (set.delete(f)) this.snapshots.delete(event);
    };
  }

  /** Like `on`, but the listener runs at most once. */
  once<E extends keyof M>(event: E, fn: Listener<M, E>): Unsubscribe {
    const off = this.on(event, ((...args: M[E]) => {
      off();
      (fn as (...a: M[E]) => void)(...args);
    }) as Listener<M, E>);
    return off;
  }

  /** Calls every listener of `event` in subscription order; returns whether there was any. */
  emit<E extends keyof M>(event: E, ...args: M[E]): boolean {
    let fns = this.snapshots.get(event);
    if (fns === undefined) {
      fns = [...(this.byEvent.get(event) ?? [])];
      this.snapshots.set(event, fns);
    }
    if (fns.length === 0) return false;
    // A listener added or removed while emitting takes effect from the next emit (as with EventEmitter).
    for (const fn of fns) {
      try {
        fn(...(args as readonly unknown[]));
      } catch (err) {
        this.onError(err);
      }
    }
    return true;
  }

  /** How many listeners `event` has (for tests and for skipping work nobody listens to). */
  count(event: keyof M): number {
    return this.byEvent.get(event)?.size ?? 0;
  }
}
