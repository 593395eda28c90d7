// How the component looks for a new card after the user comes back from WeChat's card-opening
// mini-program: the ACCEPT_CARD notification that binds the card to the user may land a few seconds
// after the user is back, so one reload is not enough. Quick looks first, then spaced out.

/** Waits between looks; the last one repeats until the window is spent. */
export const BACKOFF_MS: readonly number[] = [1000, 2000, 3000, 5000, 8000];

/** About 30 s in all (checks at 0, 1, 3, 6, 11, 19, 27 and 30 s). */
export const DEFAULT_CONFIRM_WINDOW_MS = 30000;

/** The wait before look number `attempt + 1`, or undefined when `elapsed` has used up the window. */
export function nextDelay(attempt: number, elapsed: number, windowMs: number): number | undefined {
  if (elapsed >= windowMs) return undefined;
  const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 1000;
  return Math.min(delay, windowMs - elapsed);
}
