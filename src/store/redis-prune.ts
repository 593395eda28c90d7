import type { Redis } from 'ioredis';
import { isCluster, type Client } from './redis-connect.js';
import type { RedisKeys } from './redis-keys.js';
import { cutoffs, noCounts, type PruneCounts, type RetentionLimits } from './retention.js';

// The Redis engine's retention (issue 18). Most records carry a key TTL set when they are written
// (PX / PEXPIRE: notifications, outer_strs, sessions, member codes, locks, buckets, ended top-ups,
// finished journal entries), so Redis drops them by itself. Only the audit lists, where old lines
// sit beside new ones under one key, need a pass: a SCAN of the audit keys in steps of `batch`
// keys, on each master of a Redis Cluster (SCAN is per node).

/** ms until `from + keepMs`, at least 1 (a PX of 0 is refused): the TTL of a record kept `keepMs` from `from`. */
export function ttlFrom(from: number, keepMs: number, now = Date.now()): number {
  return Math.max(1, Math.ceil(from + keepMs - now));
}

/**
 * One pass over the audit lists (LPUSHed, so the oldest line is last): lines at or before the
 * journal's cut are popped from the tail, at most `batch` lines in all. Nothing when the journal
 * is kept forever.
 */
export async function redisPrune(
  client: Client,
  keys: RedisKeys,
  now: number,
  limits: RetentionLimits,
  batch: number,
): Promise<PruneCounts> {
  const counts = noCounts();
  const { journal } = cutoffs(now, limits);
  if (journal < 0) return counts;
  // Audit keys are `<prefix>{<card tag>}a:<cardId>:<code>` (redis-keys.ts).
  const pattern = `${escapeGlob(keys.prefix)}{*}a:*`;
  const nodes: Redis[] = isCluster(client) ? client.nodes('master') : [client];
  for (const node of nodes) {
    await pruneNode(node, pattern, journal, batch, counts);
    if (counts.audit >= batch) break;
  }
  return counts;
}

async function pruneNode(
  client: Redis,
  pattern: string,
  journal: number,
  batch: number,
  counts: PruneCounts,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', batch);
    cursor = next;
    for (const key of keys) {
      while (counts.audit < batch) {
        const last = await client.lindex(key, -1);
        if (last === null || !(((JSON.parse(last) as { at?: unknown }).at as number) <= journal)) break;
        // Only this pass (it holds the lease) pops; writers push at the other end.
        await client.rpop(key);
        counts.audit += 1;
      }
      if (counts.audit >= batch) return;
    }
  } while (cursor !== '0');
}

/** A prefix as a literal in a SCAN MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
