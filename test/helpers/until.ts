import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `probe` until it gives a truthy value, and returns it; fails naming
 * `what` after `timeoutMs`. For what happens in other processes (sidecars,
 * workers), whose timing a test cannot know.
 */
export async function until<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}
