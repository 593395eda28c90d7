// Waiting in tests: a plain sleep, and the one poll loop every test uses for "until it happens".
import { inspect } from 'node:util';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every `everyMs` until it returns something other than undefined or false, and
 * returns that. A throwing check counts as "not yet" (a server still starting), and its last
 * error is named when `withinMs` runs out.
 */
export async function waitFor<T>(
  what: string,
  withinMs: number,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  everyMs = 20,
): Promise<T> {
  const deadline = Date.now() + withinMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : inspect(last)})`;
      throw new Error(`${what}: not within ${withinMs} ms${why}`, { cause: last });
    }
    await sleep(everyMs);
  }
}
