import { randomUUID } from 'node:crypto';
import { MemberCardError } from '../errors.js';
import type { Runtime } from '../runtime.js';
import { listsStaleOperations } from '../store/roles.js';
import type { Operation } from '../store/types.js';
import type { ReconcileReport } from '../topup/topups.js';

// The pending-operation sweep (issue 18): journal entries a crash or a lost answer left pending are
// settled by themselves, through the one settle path of operations.ts (re-send with the same
// out_request_no, or reconcile from the card), with back-off per entry, from one instance at a
// time (a lease in the store). Top-ups ride along through their own reconciler.

/** What one sweep did. */
export interface SweepReport {
  /** False when another instance holds the sweep's lease: it sweeps, this one did nothing. */
  ran: boolean;
  operations: {
    /** Stale pending entries looked at (not counting those still backing off), and how they stood afterwards. */
    checked: number;
    applied: number;
    failed: number;
    /** Still pending (WeChat Pay did not answer, the card was busy): tried again later, backing off. */
    waiting: number;
  };
  /** The top-up reconciler's report, when top-ups are on. */
  topups?: ReconcileReport;
}

export interface SweepSettings {
  /** An entry pending this long is settled by the sweep, ms. */
  sweepAfterMs: number;
  /** How often this instance tries to sweep in the background, ms; 0: only on demand. */
  sweepEveryMs: number;
}

/** Entries looked at per sweep: a backlog drains over several sweeps. */
const LIMIT = 50;
/** The longest back-off between two attempts at one entry. */
const MAX_BACKOFF_MS = 3_600_000;
/** The sweep's lease: long enough for one sweep, renewed between entries. */
const LEASE_MS = 60_000;

export interface Sweeper {
  sweep(): Promise<SweepReport>;
  /** Also reconciles top-ups in each sweep (memberCard() sets it when top-ups are on). */
  reconcileTopupsWith(reconcile: () => Promise<ReconcileReport>): void;
  /** Starts the background timer (unref'd); it sweeps only once the store is in use. */
  start(storeInUse: () => boolean): void;
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

export function createSweeper(
  rt: Runtime,
  settings: SweepSettings,
  /** operations.ts's settle path: every pending entry of one code, under the card's lock. */
  settle: (code: string) => Promise<void>,
): Sweeper {
  const { cardId } = rt.options;
  const lease = `sweep:${cardId}`;
  /** Per entry: attempts so far and when the next may be made (this instance's memory only). */
  const backoff = new Map<string, { tries: number; nextAt: number }>();
  let topups: (() => Promise<ReconcileReport>) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<SweepReport> | undefined;
  let stopped = false;

  async function sweepOperations(report: SweepReport, token: string): Promise<void> {
    const store = await rt.store();
    if (!listsStaleOperations(store)) return;
    const now = Date.now();
    const stale = await store.listStalePendingOperations(cardId, now - settings.sweepAfterMs, LIMIT);
    for (const key of backoff.keys()) if (!stale.some((op) => op.requestId === key)) backoff.delete(key);
    const due = stale.filter((op) => (backoff.get(op.requestId)?.nextAt ?? 0) <= now);
    // One settle per code: it settles every pending entry of that card, oldest first.
    const byCode = new Map<string, Operation[]>();
    for (const op of due) byCode.set(op.code, [...(byCode.get(op.code) ?? []), op]);
    for (const [code, ops] of byCode) {
      if (stopped) return;
      try {
        await settle(code);
      } catch (err) {
        rt.log('warn', 'pending operation not settled yet; the sweep tries again later', {
          code: err instanceof MemberCardError ? err.code : 'UNKNOWN',
        });
      }
      for (const op of ops) {
        report.operations.checked += 1;
        const state = (await store.getOperation(cardId, op.requestId))?.state ?? 'failed';
        if (state === 'pending') {
          report.operations.waiting += 1;
          const tries = (backoff.get(op.requestId)?.tries ?? 0) + 1;
          const wait = Math.min(settings.sweepAfterMs * 2 ** tries, MAX_BACKOFF_MS);
          backoff.set(op.requestId, { tries, nextAt: Date.now() + wait });
        } else {
          report.operations[state] += 1;
          backoff.delete(op.requestId);
        }
      }
      await store.extendLock(lease, token, LEASE_MS);
    }
  }

  async function once(): Promise<SweepReport> {
    const report: SweepReport = { ran: false, operations: { checked: 0, applied: 0, failed: 0, waiting: 0 } };
    const store = await rt.store();
    const token = randomUUID();
    if (!(await store.acquireLock(lease, token, LEASE_MS))) return report;
    report.ran = true;
    try {
      await sweepOperations(report, token);
      if (topups) report.topups = await topups();
    } finally {
      await store.releaseLock(lease, token).catch(() => false);
    }
    const { checked } = report.operations;
    if (checked > 0) rt.log('info', 'pending operations swept', { ...report.operations });
    return report;
  }

  const sweep = (): Promise<SweepReport> => {
    running ??= once().finally(() => {
      running = undefined;
    });
    return running;
  };

  return {
    sweep,
    reconcileTopupsWith(reconcile) {
      topups = reconcile;
    },
    start(storeInUse) {
      if (settings.sweepEveryMs <= 0 || timer || stopped) return;
      const schedule = (): void => {
        // ±20 % jitter, so instances started together do not all try the lease at once.
        timer = setTimeout(tick, settings.sweepEveryMs * (0.8 + 0.4 * Math.random()));
        timer.unref();
      };
      const tick = (): void => {
        if (stopped) return;
        if (!storeInUse()) return schedule();
        sweep()
          .catch((err: unknown) => {
            rt.log('warn', 'sweep failed', { code: err instanceof MemberCardError ? err.code : 'UNKNOWN' });
          })
          .finally(schedule);
      };
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
