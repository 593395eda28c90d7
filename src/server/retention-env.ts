import { OptionsError } from '../errors.js';
import type { StoreCommonOptions } from '../store/options.js';
import { durationMs, RETENTION, type RetentionOptions } from '../store/retention.js';
import type { Env } from './config.js';

// serve's retention and sweep variables (issue 18): the store's retentions and pass interval,
// and memberCard()'s pending-operation sweep. Unset variables keep the options' defaults.

const RETAIN = {
  notifications: 'MEMBERCARD_RETAIN_NOTIFICATIONS',
  topups: 'MEMBERCARD_RETAIN_TOPUPS',
  journal: 'MEMBERCARD_RETAIN_JOURNAL',
} as const satisfies Record<keyof typeof RETENTION, string>;

const given = (env: Env, name: string): string | undefined => {
  const value = env[name]?.trim();
  return value ? value : undefined;
};

/** The store options from MEMBERCARD_RETAIN_* and MEMBERCARD_PRUNE_MS; a bad value names its variable. */
export function storeRetentionFrom(env: Env): Pick<StoreCommonOptions, 'retention' | 'sweepIntervalMs'> {
  const retention: RetentionOptions = {};
  for (const [kind, name] of Object.entries(RETAIN) as [keyof typeof RETAIN, string][]) {
    const value = given(env, name);
    if (value === undefined) continue;
    const ms = durationMs(/^\d+$/.test(value) ? Number(value) : value);
    if (ms === undefined) throw new OptionsError(`${name} must be ms or a duration like 30d, 12h, 15m, got "${value}"`);
    retention[kind] = ms;
  }
  const prune = given(env, 'MEMBERCARD_PRUNE_MS');
  const every = prune === undefined ? undefined : Number(prune);
  if (every !== undefined && !(Number.isSafeInteger(every) && every >= 1000 && every <= 2_147_483_647))
    throw new OptionsError(`MEMBERCARD_PRUNE_MS must be whole ms from 1000, got "${prune}"`);
  return { retention, ...(every !== undefined ? { sweepIntervalMs: every } : {}) };
}

/** memberCard()'s operations sweep options from MEMBERCARD_SWEEP_MS and MEMBERCARD_SWEEP_AFTER_MS. */
export function sweepFrom(env: Env): { sweepEveryMs?: number; sweepAfterMs?: number } {
  const every = given(env, 'MEMBERCARD_SWEEP_MS');
  const after = given(env, 'MEMBERCARD_SWEEP_AFTER_MS');
  return {
    ...(every !== undefined ? { sweepEveryMs: Number(every) } : {}),
    ...(after !== undefined ? { sweepAfterMs: Number(after) } : {}),
  };
}
