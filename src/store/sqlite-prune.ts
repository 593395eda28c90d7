import { cutoffs, noCounts, type PruneCounts, type RetentionLimits } from './retention.js';
import type { SqliteConnection } from './sqlite-driver.js';

// The SQLite engine's retention pass (issue 18): one DELETE per kind, each of at most `batch`
// rows, so no statement holds the file's write lock for long.

/** The migration that indexes what the pass and the pending-operation sweep select on. */
export const RETENTION_INDEXES = `
  CREATE INDEX IF NOT EXISTS notifications_by_received ON notifications (received_at);
  CREATE INDEX IF NOT EXISTS outer_strs_by_expiry ON outer_strs (expires_at);
  CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
  CREATE INDEX IF NOT EXISTS member_codes_by_expiry ON member_codes (expires_at);
  CREATE INDEX IF NOT EXISTS op_locks_by_expiry ON op_locks (expires_at);
  CREATE INDEX IF NOT EXISTS rate_buckets_by_expiry ON rate_buckets (expires_at);
  CREATE INDEX IF NOT EXISTS topup_orders_ended ON topup_orders (created_at) WHERE next_check_at IS NULL;
  CREATE INDEX IF NOT EXISTS operations_finished ON operations (updated_at) WHERE state <> 'pending';
  CREATE INDEX IF NOT EXISTS operations_stale ON operations (card_id, created_at) WHERE state = 'pending';
  CREATE INDEX IF NOT EXISTS audit_by_time ON audit_log (at);`;

/** Each kind: the table and the condition (its parameters come from the pass's cut-offs). */
const KINDS: { kind: keyof PruneCounts; table: string; where: string; params: (c: Cut) => number[] }[] = [
  { kind: 'notifications', table: 'notifications', where: 'received_at <= ?', params: (c) => [c.notifications] },
  { kind: 'outerStrs', table: 'outer_strs', where: 'expires_at <= ?', params: (c) => [c.now] },
  { kind: 'sessions', table: 'sessions', where: 'expires_at <= ?', params: (c) => [c.now] },
  { kind: 'memberCodes', table: 'member_codes', where: 'expires_at <= ?', params: (c) => [c.now] },
  { kind: 'leases', table: 'op_locks', where: 'expires_at <= ?', params: (c) => [c.now] },
  { kind: 'leases', table: 'rate_buckets', where: 'expires_at <= ?', params: (c) => [c.now] },
  {
    kind: 'topups',
    table: 'topup_orders',
    // Ended: credited / closed after `topups`; failed ones (the merchant must see to them) with the journal.
    where: `next_check_at IS NULL
            AND ((state IN ('credited', 'closed') AND created_at <= ?) OR (state = 'failed' AND created_at <= ?))`,
    params: (c) => [c.topups, c.journal],
  },
  {
    kind: 'operations',
    table: 'operations',
    where: "state <> 'pending' AND updated_at <= ?",
    params: (c) => [c.journal],
  },
  { kind: 'audit', table: 'audit_log', where: 'at <= ?', params: (c) => [c.journal] },
];

type Cut = ReturnType<typeof cutoffs> & { now: number };

export function sqlitePrune(db: SqliteConnection, now: number, limits: RetentionLimits, batch: number): PruneCounts {
  const cut: Cut = { ...cutoffs(now, limits), now };
  const counts = noCounts();
  for (const { kind, table, where, params } of KINDS) {
    // The journal kept forever: not even a look.
    if ((kind === 'operations' || kind === 'audit') && cut.journal < 0) continue;
    const result = db
      .prepare(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${where} LIMIT ?)`)
      .run(...params(cut), batch);
    counts[kind] += Number(result.changes);
  }
  return counts;
}
