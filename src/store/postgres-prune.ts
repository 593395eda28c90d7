import type { Pool } from 'pg';
import { cutoffs, noCounts, type PruneCounts, type RetentionLimits } from './retention.js';

// The PostgreSQL engine's retention pass (issue 18): one DELETE per kind, each of at most `batch`
// rows (picked by ctid through an index), so no statement holds many row locks or runs for long.

/** The migration that indexes what the pass and the pending-operation sweep select on ({s}: the schema). */
export const retentionIndexes = (s: string): string => `
  CREATE INDEX IF NOT EXISTS notifications_by_received ON ${s}.notifications (received_at);
  CREATE INDEX IF NOT EXISTS outer_strs_by_expiry ON ${s}.outer_strs (expires_at);
  CREATE INDEX IF NOT EXISTS sessions_by_expiry ON ${s}.sessions (expires_at);
  CREATE INDEX IF NOT EXISTS member_codes_by_expiry ON ${s}.member_codes (expires_at);
  CREATE INDEX IF NOT EXISTS op_locks_by_expiry ON ${s}.op_locks (expires_at);
  CREATE INDEX IF NOT EXISTS rate_buckets_by_expiry ON ${s}.rate_buckets (expires_at);
  CREATE INDEX IF NOT EXISTS topup_orders_ended ON ${s}.topup_orders (created_at) WHERE next_check_at IS NULL;
  CREATE INDEX IF NOT EXISTS operations_finished ON ${s}.operations (updated_at) WHERE state <> 'pending';
  CREATE INDEX IF NOT EXISTS operations_stale ON ${s}.operations (card_id, created_at) WHERE state = 'pending';
  CREATE INDEX IF NOT EXISTS audit_by_time ON ${s}.audit_log (at);`;

/** The server's clock in ms, as the engine's leases and buckets measure expiry. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

type Cut = ReturnType<typeof cutoffs> & { now: number };

/** Each kind: the table and the condition ($1, $2: from the pass's cut-offs; the batch is the last parameter). */
const KINDS: { kind: keyof PruneCounts; table: string; where: string; params: (c: Cut) => number[] }[] = [
  { kind: 'notifications', table: 'notifications', where: 'received_at <= $1', params: (c) => [c.notifications] },
  { kind: 'outerStrs', table: 'outer_strs', where: 'expires_at <= $1', params: (c) => [c.now] },
  { kind: 'sessions', table: 'sessions', where: 'expires_at <= $1', params: (c) => [c.now] },
  { kind: 'memberCodes', table: 'member_codes', where: 'expires_at <= $1', params: (c) => [c.now] },
  { kind: 'leases', table: 'op_locks', where: `expires_at <= ${NOW_MS}`, params: () => [] },
  { kind: 'leases', table: 'rate_buckets', where: `expires_at <= ${NOW_MS}`, params: () => [] },
  {
    kind: 'topups',
    table: 'topup_orders',
    // Ended: credited / closed after `topups`; failed ones (the merchant must see to them) with the journal.
    where: `next_check_at IS NULL
            AND ((state IN ('credited', 'closed') AND created_at <= $1) OR (state = 'failed' AND created_at <= $2))`,
    params: (c) => [c.topups, c.journal],
  },
  {
    kind: 'operations',
    table: 'operations',
    where: "state <> 'pending' AND updated_at <= $1",
    params: (c) => [c.journal],
  },
  { kind: 'audit', table: 'audit_log', where: 'at <= $1', params: (c) => [c.journal] },
];

export async function postgresPrune(
  pool: Pool,
  s: string,
  now: number,
  limits: RetentionLimits,
  batch: number,
): Promise<PruneCounts> {
  const cut: Cut = { ...cutoffs(now, limits), now };
  const counts = noCounts();
  for (const { kind, table, where, params } of KINDS) {
    // The journal kept forever: not even a look.
    if ((kind === 'operations' || kind === 'audit') && cut.journal < 0) continue;
    const values = params(cut);
    const result = await pool.query(
      `DELETE FROM ${s}.${table} WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM ${s}.${table} WHERE ${where} LIMIT $${values.length + 1}))`,
      [...values, batch],
    );
    counts[kind] += result.rowCount ?? 0;
  }
  return counts;
}
