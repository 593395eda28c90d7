import type { Log } from '../log.js';
import type { Topups } from '../topup/topups.js';

// serve's reconciler: settles due top-ups every `everyMs` (±20 % jitter, so instances started
// together spread out). Several instances may run it: each order has one runner at a time (a
// lease in the store), and every step is a compare-and-set. A later issue brings a general sweeper.

export interface Reconciler {
  /** Stops the timer and waits for a pass in progress. */
  stop(): Promise<void>;
}

export function startReconciler(topups: Topups, everyMs: number, log: Log): Reconciler {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(run, everyMs * (0.8 + 0.4 * Math.random()));
    timer.unref();
  };
  const run = (): void => {
    running = topups
      .reconcile()
      .then((report) => {
        if (report.checked) log('info', 'top-ups reconciled', { ...report });
      })
      .catch((err: unknown) => {
        // The store or WeChat Pay is away: the next pass tries again.
        log('warn', 'top-up reconcile pass failed', {
          code: (err as { code?: unknown }).code === undefined ? 'UNKNOWN' : String((err as { code?: unknown }).code),
        });
      })
      .finally(() => {
        running = undefined;
        schedule();
      });
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
