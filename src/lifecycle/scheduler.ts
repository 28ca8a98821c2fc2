/** Cancels what a Scheduler scheduled; calling it after the run, or twice, is harmless. */
export type Cancel = () => void;

/**
 * Scheduler runs `fn` once after `ms`; injected next to the Clock so lifecycle tests drive retries
 * and periodic work by hand instead of sleeping.
 */
export type Scheduler = (fn: () => void, ms: number) => Cancel;

/** The real scheduler: an unref'd setTimeout, so a pending retry never keeps the process alive. */
export const timerScheduler: Scheduler = (fn, ms) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

/** Runs `tick` every `ms` on an unref'd interval (a poll never keeps the process alive); clearInterval ends it. */
export function pollEvery(ms: number, tick: () => void): NodeJS.Timeout {
  const t = setInterval(tick, ms);
  t.unref();
  return t;
}
