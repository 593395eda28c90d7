import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { defaultLog, errorName, type Log, toLog } from '../log.js';
import type { StoreCommonOptions } from './options.js';
import {
  DEFAULT_PRUNE_BATCH,
  noCounts,
  PRUNE_KINDS,
  retentionLimits,
  type PruneCounts,
  type RetentionLimits,
} from './retention.js';
import type { LockStore, RetentionStore } from './types.js';

// The retention pass (issue 18): deletes in small batches, yielding between them so requests on
// this instance are never queued behind it, from one instance at a time (a lease in the store).

/** The lease that lets one instance prune at a time. */
export const PRUNE_LEASE = 'membercard:prune';

/** How long the lease lasts unless extended (it is, between batches): a crashed pruner frees it by then. */
const LEASE_MS = 60_000;

export interface PruneTarget extends RetentionStore, LockStore {}

export interface PruneAllOptions {
  /** The pass's clock (default Date.now() when it starts). */
  now?: number;
  /** Extends this lease between batches; the pass stops when it is lost. */
  lease?: { name: string; token: string; ttlMs: number };
  /** Checked between batches: true stops the pass (the store is closing). */
  stopped?: () => boolean;
}

/**
 * Calls prune() until every kind comes back short of a full batch; resolves with the totals.
 * Each call deletes at most `batch` rows per kind; between calls it yields to the event loop.
 */
export async function pruneAll(
  store: RetentionStore & Partial<LockStore>,
  limits: RetentionLimits,
  batch: number,
  options: PruneAllOptions = {},
): Promise<PruneCounts> {
  const now = options.now ?? Date.now();
  const total = noCounts();
  for (;;) {
    const counts = await store.prune(now, limits, batch);
    for (const kind of PRUNE_KINDS) total[kind] += counts[kind];
    if (!PRUNE_KINDS.some((kind) => counts[kind] >= batch)) return total;
    if (options.stopped?.()) return total;
    const { lease } = options;
    if (lease && store.extendLock && !(await store.extendLock(lease.name, lease.token, lease.ttlMs))) return total;
    await yieldToRequests();
  }
}

export interface PruneRunnerSettings {
  limits: RetentionLimits;
  batch: number;
  log: Log;
}

/** One instance's share of the retention passes: runOnce() prunes when it gets the lease. */
export class PruneRunner {
  readonly #store: PruneTarget;
  readonly #settings: PruneRunnerSettings;
  #running: Promise<PruneCounts | undefined> | undefined;
  #stopped = false;

  constructor(store: PruneTarget, settings: PruneRunnerSettings) {
    this.#store = store;
    this.#settings = settings;
  }

  /**
   * One pass, unless one is already running here (then its result) or another instance holds the
   * lease (then undefined: it prunes, this one does not).
   */
  runOnce(now?: number): Promise<PruneCounts | undefined> {
    this.#running ??= this.#pass(now).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Lets a pass in progress end after its current batch. */
  stop(): void {
    this.#stopped = true;
  }

  async #pass(now: number | undefined): Promise<PruneCounts | undefined> {
    const store = this.#store;
    const { limits, batch, log } = this.#settings;
    const token = randomUUID();
    if (!(await store.acquireLock(PRUNE_LEASE, token, LEASE_MS))) return undefined;
    try {
      const started = Date.now();
      const counts = await pruneAll(store, limits, batch, {
        ...(now !== undefined ? { now } : {}),
        lease: { name: PRUNE_LEASE, token, ttlMs: LEASE_MS },
        stopped: () => this.#stopped,
      });
      if (PRUNE_KINDS.some((kind) => counts[kind] > 0)) {
        log('info', 'retention pass', { ...counts, ms: Date.now() - started });
      }
      return counts;
    } finally {
      await store.releaseLock(PRUNE_LEASE, token).catch(() => false);
    }
  }

  /** For the background timer: a pass whose failure is logged, not thrown (the next pass tries again). */
  background(): Promise<void> {
    return this.runOnce().then(
      () => undefined,
      (err: unknown) => {
        if (this.#stopped) return;
        this.#settings.log('warn', 'retention pass failed', { error: codeOf(err) });
      },
    );
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : errorName(err);
}

/** An engine's Lifecycle sweep hook: its retention pass, from the common store options. */
export function retentionSweep(
  store: PruneTarget,
  options: StoreCommonOptions,
  defaultEveryMs: number,
): { everyMs: number; run(): Promise<void>; stop(): void } {
  const runner = new PruneRunner(store, {
    limits: retentionLimits(options.retention),
    batch: options.retention?.batch ?? DEFAULT_PRUNE_BATCH,
    log: toLog(options.log) ?? defaultLog,
  });
  return {
    everyMs: options.sweepIntervalMs ?? defaultEveryMs,
    run: () => runner.background(),
    stop: () => runner.stop(),
  };
}
