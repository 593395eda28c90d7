import type { Cluster, Redis } from 'ioredis';
import type { SharedCardEntry, SharedClaim } from './types.js';

/**
 * The shared second cache level in Redis (issue 15): one hash per card, `j` the card's JSON, `r`
 * when it was read, `d` when it was last dropped. A put of a read that started before the last drop
 * (or before the kept read) is refused in the script, so a read racing a change never brings the
 * old card back for the others. The key expires (PEXPIRE): personal data is not kept for long.
 * A put, kept or refused, ends the claim to read the card (KEYS[2], the same hash tag): the read it
 * announced is over, and the next one, here or elsewhere, must not wait for it.
 */

type Client = Redis | Cluster;

const PUT = `
redis.call('DEL', KEYS[2])
local d = tonumber(redis.call('HGET', KEYS[1], 'd') or '0')
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
local at = tonumber(ARGV[2])
if at <= d or at < r then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

const DROP = `
redis.call('HDEL', KEYS[1], 'j', 'r')
redis.call('HSET', KEYS[1], 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

// The card if it was read at or after ARGV[1] (fresh for the caller); else the claim to read it,
// taken by one caller per ARGV[2] ms: one round trip where a get and then a claim took two.
const CLAIM = `
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '')
if r and r >= tonumber(ARGV[1]) then return {1, redis.call('HGET', KEYS[1], 'j'), tostring(r)} end
if redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'NX') then return {0, 1} end
return {0, 0}`;

/** How long a drop's mark is kept: longer than any read takes, so a late put still meets it. */
const DROP_MARK_MS = 120_000;

export async function getShared(client: Client, key: string): Promise<SharedCardEntry | undefined> {
  const [card, readAt] = await client.hmget(key, 'j', 'r');
  return card && readAt ? { card, readAt: Number(readAt) } : undefined;
}

export async function claimShared(
  client: Client,
  keys: { card: string; claim: string },
  freshFrom: number,
  claimMs: number,
): Promise<SharedClaim> {
  const [fresh, a, b] = (await client.eval(
    CLAIM,
    2,
    keys.card,
    keys.claim,
    String(Math.floor(Math.min(freshFrom, Number.MAX_SAFE_INTEGER))),
    String(Math.max(1, Math.ceil(claimMs))),
  )) as [number, string | number | null, string | null];
  if (fresh === 1 && typeof a === 'string' && b) return { entry: { card: a, readAt: Number(b) }, claimed: false };
  return { claimed: a === 1 };
}

export async function putShared(
  client: Client,
  keys: { card: string; claim: string },
  entry: SharedCardEntry,
  ttlMs: number,
): Promise<void> {
  const ttl = String(Math.max(1, Math.ceil(ttlMs)));
  await client.eval(PUT, 2, keys.card, keys.claim, entry.card, String(entry.readAt), ttl);
}

export async function dropShared(client: Client, key: string): Promise<void> {
  await client.eval(DROP, 1, key, String(Date.now()), String(DROP_MARK_MS));
}
