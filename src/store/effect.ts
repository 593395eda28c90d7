import type { AuditEntry, Binding, MerchantBinding, MerchantBindResult, UserIdentity } from './types.js';

/**
 * How a `bind` effect merges into a binding, in one place for the engines that compute it in
 * JavaScript (memory, SQLite). PostgreSQL and Redis express the same rule in SQL / Lua:
 * status becomes active; given unionid/oaOpenid win; userOpenid comes from a pending outer_str
 * or is kept; a binding with no unionid takes the outer_str identity's.
 */
export function mergeBind(
  existing: Binding | undefined,
  effect: { cardId: string; code: string; unionid?: string; oaOpenid?: string },
  outer: UserIdentity | undefined,
  now: number,
): Binding {
  const binding: Binding = {
    cardId: effect.cardId,
    code: effect.code,
    status: 'active',
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
  };
  const unionid = effect.unionid || existing?.unionid || outer?.unionid;
  const oaOpenid = effect.oaOpenid || existing?.oaOpenid;
  const userOpenid = outer?.openid || existing?.userOpenid;
  if (unionid) binding.unionid = unionid;
  if (oaOpenid) binding.oaOpenid = oaOpenid;
  if (userOpenid) binding.userOpenid = userOpenid;
  return binding;
}

/**
 * How a merchant's bind meets the current binding, for the engines that compute it in JavaScript
 * (memory, SQLite, PostgreSQL under a row lock; Redis says the same in Lua): see
 * MerchantBindingStore.bindByMerchant.
 */
export function mergeMerchantBind(
  existing: Binding | undefined,
  bind: MerchantBinding,
  now: number,
): MerchantBindResult {
  if (existing?.status === 'active' && heldByAnother(existing, bind.user))
    return { outcome: 'conflict', binding: existing };
  const active = existing?.status === 'active';
  const binding: Binding = {
    cardId: bind.cardId,
    code: bind.code,
    status: 'active',
    createdAt: existing?.createdAt ?? now,
    updatedAt: now,
    userOpenid: bind.user.openid,
  };
  // Only an active binding (compatible, or it would be a conflict) lends what the bind leaves out;
  // a flagged or retired one was someone's who is no longer trusted with this code.
  const kept = active ? existing : undefined;
  const unionid = bind.user.unionid ?? kept?.unionid;
  const oaOpenid = bind.oaOpenid ?? kept?.oaOpenid;
  if (unionid) binding.unionid = unionid;
  if (oaOpenid) binding.oaOpenid = oaOpenid;
  const same =
    existing !== undefined &&
    active &&
    existing.userOpenid === binding.userOpenid &&
    existing.unionid === binding.unionid &&
    existing.oaOpenid === binding.oaOpenid;
  if (same) return { outcome: 'unchanged', binding: existing };
  return { outcome: 'bound', binding };
}

/**
 * Whether an active binding may belong to someone else than `user`: its mini-program user is
 * another, or (both known) its unionid is another; a binding made by notification with only a
 * unionid belongs to whoever has that unionid, so a user whose unionid is unknown cannot take it.
 */
function heldByAnother(b: Binding, user: UserIdentity): boolean {
  if (b.userOpenid !== undefined)
    return (
      b.userOpenid !== user.openid ||
      (b.unionid !== undefined && user.unionid !== undefined && b.unionid !== user.unionid)
    );
  return b.unionid !== undefined && b.unionid !== user.unionid;
}

/** The audit line of a merchant's bind: who bound the code, and the user before and after. */
export function bindAudit(existing: Binding | undefined, bind: MerchantBinding, now: number): AuditEntry {
  const entry: AuditEntry = {
    cardId: bind.cardId,
    code: bind.code,
    requestId: bind.requestId,
    kind: 'bind',
    actor: bind.actor,
    after: bind.user.openid,
    at: now,
  };
  if (existing?.userOpenid !== undefined) entry.before = existing.userOpenid;
  return entry;
}
