import { AsyncLocalStorage } from 'node:async_hooks';

const storage = new AsyncLocalStorage<string>();

/**
 * Runs `fn` with `caller` as the calling service of everything it does, so the lifecycle events it
 * writes record who caused them (SPEC rule 18 audit) without threading the name through every layer.
 */
export function withCaller<T>(caller: string, fn: () => T): T {
  return storage.run(caller, fn);
}

/** The calling service of the current call chain; '' for the service's own work (expiry, scavenger). */
export function currentCaller(): string {
  return storage.getStore() ?? '';
}
