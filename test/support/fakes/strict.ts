/** Thrown by a strict fake when the code under test calls something the test did not expect. */
export class UnexpectedCallError extends Error {
  constructor(what: string) {
    super(`unexpected call: ${what}`);
  }
}

/** A strict fake: the object plus the log of the method calls it answered. */
export type Strict<T> = T & { readonly calls: string[] };

/**
 * Wraps `impl` so that calling any method not named in `allowed` throws UnexpectedCallError (and so
 * does touching any property `impl` lacks); allowed calls are logged in `calls` and run `impl`.
 * `allowed` may be changed by the test between steps (it is read on every call).
 */
export function strict<T extends object>(name: string, impl: T, allowed: Set<string>): Strict<T> {
  const calls: string[] = [];
  return new Proxy(impl, {
    get(target, prop, receiver) {
      if (prop === 'calls') return calls;
      if (prop === 'then' || typeof prop === 'symbol') return Reflect.get(target, prop, receiver);
      if (!(prop in target)) throw new UnexpectedCallError(`${name}.${prop}`);
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!allowed.has(prop)) throw new UnexpectedCallError(`${name}.${prop}()`);
        calls.push(prop);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Strict<T>;
}
