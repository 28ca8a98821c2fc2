import { ConcurrentUpdateError } from '../domain/errors.js';

/** Attempts of a compare-and-swap loop when the caller does not say (SessionService's maxCasAttempts default). */
export const DEFAULT_CAS_ATTEMPTS = 8;

/** What an attempt returns when its compare failed and it wants to run again on the state it re-read. */
export const AGAIN: unique symbol = Symbol('cas-retry.again');

/** The outcome of one attempt: the loop's result, or AGAIN. */
export type CasAttempt<T> = T | typeof AGAIN;

/** Options of casRetry. */
export interface CasRetryOptions<T> {
  /** Attempts before the loop is exhausted. Default DEFAULT_CAS_ATTEMPTS (8); must be at least 1. */
  attempts?: number;
  /** Awaited before every attempt after the first (e.g. jitter that breaks lockstep); default none. */
  pause?: (attempt: number) => Promise<unknown>;
  /**
   * The result of an exhausted loop. Default: throw ConcurrentUpdateError (CONCURRENT_UPDATE), the
   * one error of a compare-and-swap that kept losing; a best-effort writer returns a value instead.
   */
  exhausted?: () => T;
}

/**
 * Runs a compare-and-swap loop: calls `attempt(i)` for i = 0, 1, … until it returns something other
 * than AGAIN (the result) or the attempts run out (`exhausted`, by default ConcurrentUpdateError).
 * The attempt owns the read-compare-write and re-reads the state it retries on; the loop owns the
 * count, the pause between attempts and the exhaustion outcome, so every CAS loop of the app behaves alike.
 */
export async function casRetry<T>(attempt: (i: number) => Promise<CasAttempt<T>>, options: CasRetryOptions<T> = {}): Promise<T> {
  const attempts = options.attempts ?? DEFAULT_CAS_ATTEMPTS;
  if (!(attempts >= 1)) throw new Error('cas-retry: attempts must be at least 1');
  for (let i = 0; i < attempts; i++) {
    if (i > 0 && options.pause) await options.pause(i);
    const r = await attempt(i);
    if (r !== AGAIN) return r;
  }
  if (options.exhausted) return options.exhausted();
  throw new ConcurrentUpdateError();
}
