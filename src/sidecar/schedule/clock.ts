/**
 * The schedule runner's time: the wall clock and its timers, passed in so that
 * a test runs a simulated day on a virtual clock without waiting.
 */
export interface RunnerClock {
  /** Epoch ms. */
  now(): number;
  /** Calls `fn` once after `ms`; returns what cancel() takes. */
  after(ms: number, fn: () => void): unknown;
  cancel(timer: unknown): void;
}

export const systemClock: RunnerClock = {
  now: () => Date.now(),
  after: (ms, fn) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return t;
  },
  cancel: (timer) => clearTimeout(timer as NodeJS.Timeout),
};
