/** The one backoff option shape of the project: first delay, cap, growth factor, jitter fraction. */
export interface BackoffOptions {
  /** First delay in ms. */
  initialMs: number;
  /** Largest delay in ms. */
  maxMs: number;
  /** Growth per failure. Default 2. */
  multiplier?: number;
  /** Fraction of each delay randomised away (0..1), so many nodes do not retry in step. Default 0.2. */
  jitter?: number;
}

/** Validates a BackoffOptions (fail fast at construction); `owner` names the component in the message. */
export function validateBackoff(owner: string, o: BackoffOptions): Required<BackoffOptions> {
  const full = { multiplier: 2, jitter: 0.2, ...o };
  if (!Number.isFinite(full.initialMs) || full.initialMs <= 0) throw new Error(`${owner}: backoff.initialMs must be > 0`);
  if (!Number.isFinite(full.maxMs) || full.maxMs < full.initialMs) throw new Error(`${owner}: backoff.maxMs must be >= initialMs`);
  if (!Number.isFinite(full.multiplier) || full.multiplier < 1) throw new Error(`${owner}: backoff.multiplier must be >= 1`);
  if (!(full.jitter >= 0 && full.jitter <= 1)) throw new Error(`${owner}: backoff.jitter must be within 0..1`);
  return full;
}

/**
 * Backoff yields growing retry delays (exponential, capped, jittered) and resets on success. The
 * random source is injected so tests are exact.
 */
export class Backoff {
  private readonly o: Required<BackoffOptions>;
  private nextMs: number;

  constructor(owner: string, options: BackoffOptions, private readonly random: () => number = Math.random) {
    this.o = validateBackoff(owner, options);
    this.nextMs = this.o.initialMs;
  }

  /** The delay before the next attempt; grows the one after. */
  next(): number {
    const base = this.nextMs;
    this.nextMs = Math.min(this.o.maxMs, base * this.o.multiplier);
    return Math.round(base * (1 - this.o.jitter * this.random()));
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.nextMs = this.o.initialMs;
  }
}

/** Options of retryUntil. */
export interface RetryUntilOptions {
  /** True once the caller was stopped: no more tries, `stoppedError()` is thrown. */
  stopped(): boolean;
  /** The error thrown when stopped before or between tries (or right after a try that succeeded). */
  stoppedError(): Error;
  /** Told about each failed try before the wait. */
  onRetry(err: Error): void;
}

/**
 * Runs `attempt` until it succeeds, waiting `backoff` between failures, unless the caller is stopped
 * meanwhile; used where a part must keep trying at start-up (etcd may not be up yet: pods start in
 * any order) yet stop() must end the wait.
 */
export async function retryUntil(attempt: () => Promise<void>, backoff: Backoff, o: RetryUntilOptions): Promise<void> {
  for (;;) {
    try {
      await attempt();
    } catch (err) {
      if (o.stopped()) throw o.stoppedError();
      o.onRetry(err as Error);
      await new Promise((r) => setTimeout(r, backoff.next()));
      if (o.stopped()) throw o.stoppedError();
      continue;
    }
    if (o.stopped()) throw o.stoppedError();
    return;
  }
}
