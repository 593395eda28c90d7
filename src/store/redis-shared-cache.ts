import type { Cluster, Redis } from 'ioredis';
import type { SharedCardEntry } from './types.js';

/**
 * The shared second cache level in Redis (issue 15): one hash per card, `j` the card's JSON, `r`
 * when it was read, `d` when it was last dropped. A put of a read that started before the last drop
 * (or before the kept read) is refused in the script, so a read racing a change never brings the
 * old card back for the others. The key expires (PEXPIRE): personal data is not kept for long.
 */

type Client = Redis | Cluster;

const PUT = `
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

/** How long a drop's mark is kept: longer than any read takes, so a late put still meets it. */
const DROP_MARK_MS = 120_000;

export async function getShared(client: Client, key: string): Promise<SharedCardEntry | undefined> {
  const [card, readAt] = await client.hmget(key, 'j', 'r');
  return card && readAt ? { card, readAt: Number(readAt) } : undefined;
}

export async function putShared(client: Client, key: string, entry: SharedCardEntry, ttlMs: number): Promise<void> {
  await client.eval(PUT, 1, key, entry.card, String(entry.readAt), String(Math.max(1, Math.ceil(ttlMs))));
}

export async function dropShared(client: Client, key: string): Promise<void> {
  await client.eval(DROP, 1, key, String(Date.now()), String(DROP_MARK_MS));
}
