import type { Runtime } from '../runtime.js';

/** Counts a verified notification: processed, a redelivery, or failed (answered 5xx, so redelivered). */
export async function countedNotification(
  rt: Pick<Runtime, 'metrics'>,
  eventType: string,
  apply: () => Promise<boolean>,
): Promise<void> {
  let first: boolean;
  try {
    first = await apply();
  } catch (err) {
    rt.metrics.notification(eventType, 'error');
    throw err;
  }
  rt.metrics.notification(eventType, first ? 'processed' : 'duplicate');
}
