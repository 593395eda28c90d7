/**
 * The Redis store's bindings as steps that each touch one hash tag (so they run on Redis Cluster),
 * ordered so that any prefix of them, cut short by a crash, is finished by the retry WeChat Pay
 * (or the merchant) makes:
 *
 * applyNotification, with an outer_str:
 *   1. {n:id}     already processed? then false.
 *   2. {o:…}      take the outer_str for this notification (others wait while it is taken).
 *   3. {user:…}   index the owner, so the binding is findable as soon as it exists.
 *   4. {card:…}   de-duplicate (a marker per notification id) and bind, in one script; the marker
 *                 keeps the outcome, so a redelivery after a crash learns what happened.
 *   5. {user:…} {unionid:…}  index the binding as it now is.
 *   6. {o:…}      settle the outer_str: deleted when consumed, pending again when refused.
 *   7. {n:id}     record the notification.
 * The indexes are hints: a read checks each entry against the binding, so an entry written ahead
 * of its binding (a crash between 3 and 4) misleads nobody.
 */
import type { Client } from './redis-connect.js';
import type { RedisKeys } from './redis-keys.js';
import type * as T from './types.js';

export interface RedisContext {
  keys: RedisKeys;
  run<R>(fn: (r: Client) => Promise<R>): Promise<R>;
}

/** How long a notification waits for another one that holds the same outer_str. */
const TAKEN_WAIT_MS = 2000;
/** A stale index entry is dropped only when older than this, so one written ahead of its binding stays. */
const STALE_AFTER_MS = 60_000;

export function toBinding(flat: string[]): T.Binding {
  const h: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
  const binding: T.Binding = {
    cardId: h['cardId'] ?? '',
    code: h['code'] ?? '',
    status: (h['status'] ?? 'active') as T.BindingStatus,
    createdAt: Number(h['createdAt']),
    updatedAt: Number(h['updatedAt']),
  };
  if (h['unionid']) binding.unionid = h['unionid'];
  if (h['oaOpenid']) binding.oaOpenid = h['oaOpenid'];
  if (h['userOpenid']) binding.userOpenid = h['userOpenid'];
  return binding;
}

/** Adds a code to the user's and the unionid's index, never moving an entry back in time. */
export async function indexBinding(
  ctx: RedisContext,
  cardId: string,
  code: string,
  who: { userOpenid?: string | undefined; unionid?: string | undefined },
  score: number,
): Promise<void> {
  const writes: Promise<unknown>[] = [];
  if (who.userOpenid)
    writes.push(ctx.run((r) => r.zadd(ctx.keys.userIndex(cardId, who.userOpenid!), 'GT', score, code)));
  if (who.unionid) writes.push(ctx.run((r) => r.zadd(ctx.keys.unionidIndex(cardId, who.unionid!), 'GT', score, code)));
  await Promise.all(writes);
}

/**
 * The newest active binding an index names whose `field` still is `value`. Entries whose binding
 * moved on are dropped on the way, once old enough that no write can still be on its way.
 */
export async function findLatestActive(
  ctx: RedisContext,
  indexKey: string,
  cardId: string,
  field: 'userOpenid' | 'unionid',
  value: string,
): Promise<T.Binding | undefined> {
  const flat = await ctx.run((r) => r.zrevrange(indexKey, 0, -1, 'WITHSCORES'));
  const entries: { code: string; score: string }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ code: flat[i]!, score: flat[i + 1]! });
  const hashes = await Promise.all(entries.map((e) => ctx.run((r) => r.hgetall(ctx.keys.binding(cardId, e.code)))));
  const staleBefore = Date.now() - STALE_AFTER_MS;
  for (const [i, h] of hashes.entries()) {
    const entry = entries[i]!;
    if (h[field] !== value) {
      if (Number(entry.score) < staleBefore) await ctx.run((r) => r.mcDropStale(indexKey, entry.code, entry.score));
    } else if (h['status'] === 'active') {
      return toBinding(Object.entries(h).flat());
    }
  }
  return undefined;
}

/** See the steps above. `ttlMs` is how long a notification id is remembered. */
export async function applyNotification(
  ctx: RedisContext,
  ttlMs: number,
  record: T.NotificationRecord,
  effect: T.NotificationEffect,
  observer?: T.ApplyObserver,
): Promise<boolean> {
  const { keys } = ctx;
  const rec: T.NotificationRecord = { id: record.id, eventType: record.eventType, receivedAt: record.receivedAt };
  if (record.cardId !== undefined) rec.cardId = record.cardId;
  if (record.code !== undefined) rec.code = record.code;
  const recJson = JSON.stringify(rec);
  const nKey = keys.notification(record.id);
  if (effect.kind === 'none') {
    return (await ctx.run((r) => r.set(nKey, recJson, 'PX', ttlMs, 'NX'))) === 'OK';
  }
  if ((await ctx.run((r) => r.exists(nKey))) === 1) return false;
  const { cardId, code } = effect;
  const bind = effect.kind === 'bind' ? effect : undefined;
  const outerStr = bind?.outerStr;
  const owner = outerStr === undefined ? undefined : await takeOuterStr(ctx, outerStr, record.id, cardId);
  const now = Date.now();
  if (owner) await indexBinding(ctx, cardId, code, { userOpenid: owner.openid, unionid: bind?.unionid }, now);
  const [applied, outcome, userOpenid, unionid, updatedAt, stored] = await ctx.run((r) =>
    r.mcApplyToCard(
      keys.binding(cardId, code),
      keys.notificationMarker(cardId, code, record.id),
      recJson,
      ttlMs,
      now,
      effect.kind,
      cardId,
      code,
      bind?.unionid ?? '',
      bind?.oaOpenid ?? '',
      owner?.openid ?? '',
      owner?.unionid ?? '',
    ),
  );
  if (bind && updatedAt) {
    await indexBinding(
      ctx,
      cardId,
      code,
      { userOpenid: userOpenid || undefined, unionid: unionid || undefined },
      Number(updatedAt),
    );
  }
  if (owner && outerStr !== undefined) {
    await ctx.run((r) => r.mcSettleOuterStr(keys.outerStr(outerStr), record.id, outcome === 'consumed' ? '1' : '0'));
  }
  // The record as first applied: a redelivery racing the first delivery writes the same.
  await ctx.run((r) => r.set(nKey, stored || recJson, 'PX', ttlMs, 'NX'));
  if (applied === 1 && (outcome === 'unionid_mismatch' || outcome === 'code_held'))
    observer?.outerStrRefused?.(outcome);
  return applied === 1;
}

/**
 * The outer_str's owner, now taken by this notification; undefined when there is none to use.
 * While another notification holds it, waits: it is deleted (consumed) or released (refused) in
 * milliseconds. One held longer was left by a crash: it counts as consumed, so it binds nothing
 * twice; the crashed notification's redelivery finishes its steps.
 */
async function takeOuterStr(
  ctx: RedisContext,
  outerStr: string,
  id: string,
  cardId: string,
): Promise<{ openid: string; unionid?: string } | undefined> {
  const deadline = Date.now() + TAKEN_WAIT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    const [state, openid, unionid] = await ctx.run((r) =>
      r.mcTakeOuterStr(ctx.keys.outerStr(outerStr), id, cardId, Date.now()),
    );
    if (state === 'mine' && openid) return unionid ? { openid, unionid } : { openid };
    if (state !== 'busy' || Date.now() + delay > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random())));
  }
}

/**
 * The user's pending outer_str for this card, renewed, or the candidate, stored and named for them.
 * Concurrent callers agree: the first to name one wins, the others hand out the winner's.
 */
export async function issueOuterStr(
  ctx: RedisContext,
  cardId: string,
  user: T.UserIdentity,
  candidate: string,
  expiresAt: number,
): Promise<string> {
  const { keys } = ctx;
  const ttl = Math.max(1, Math.ceil(expiresAt - Date.now()));
  const pointer = keys.issuedOuterStr(cardId, user.openid);
  const args = (outerStr: string): (string | number)[] => [
    keys.outerStr(outerStr),
    cardId,
    user.openid,
    user.unionid ?? '',
    expiresAt,
    ttl,
  ];
  const current = await ctx.run((r) => r.get(pointer));
  if (current !== null && (await ctx.run((r) => r.mcRenewOuterStr(...args(current)))) === 1) {
    await ctx.run((r) => r.set(pointer, current, 'PX', ttl));
    return current;
  }
  // Stored before it is named, so whoever reads the pointer finds it; a loser's is deleted.
  const value: Record<string, unknown> = { openid: user.openid, expiresAt, cardId };
  if (user.unionid) value['unionid'] = user.unionid;
  await ctx.run((r) => r.set(keys.outerStr(candidate), JSON.stringify(value), 'PX', ttl));
  const named = await ctx.run((r) => r.mcNameOuterStr(pointer, current ?? '', candidate, ttl));
  if (named === candidate) return candidate;
  await ctx.run((r) => r.del(keys.outerStr(candidate)));
  if (named === null) return issueOuterStr(ctx, cardId, user, candidate, expiresAt);
  await ctx.run((r) => r.mcRenewOuterStr(...args(named)));
  return named;
}
