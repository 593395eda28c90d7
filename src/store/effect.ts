import type {
  AuditEntry,
  Binding,
  MerchantBinding,
  MerchantBindResult,
  NotificationEffect,
  OuterStrRefusal,
  UserIdentity,
} from './types.js';

type BindEffect = Extract<NotificationEffect, { kind: 'bind' }>;

/**
 * How a `bind` effect merges into a binding, in one place for the engines that compute it in
 * JavaScript (memory, SQLite, PostgreSQL under a row lock; Redis says the same in Lua): status
 * becomes active; given unionid/oaOpenid win; userOpenid comes from an outer_str allowed to bind
 * (`outer`, see bindWithOuterStr) or is kept; a binding with no unionid takes the outer_str
 * identity's. An outer_str that binds a code nobody actively holds (retired after
 * USER_DELETE_MEMBERCARD, or flagged) starts afresh: nothing of the previous holder is kept.
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
  const prior = outer && existing?.status !== 'active' ? undefined : existing;
  const unionid = effect.unionid || prior?.unionid || outer?.unionid;
  const oaOpenid = effect.oaOpenid || prior?.oaOpenid;
  const userOpenid = outer?.openid || prior?.userOpenid;
  if (unionid) binding.unionid = unionid;
  if (oaOpenid) binding.oaOpenid = oaOpenid;
  if (userOpenid) binding.userOpenid = userOpenid;
  return binding;
}

/**
 * Whether the owner of a pending outer_str may have the code a notification names (issue 12,
 * finding 1: a user fetched GET /open and someone else's card came back carrying their outer_str).
 * Not when the notification's unionid and the owner's known one differ: another person took the
 * card. Not when the code is actively held by someone else: another mini-program user, or a person
 * of another unionid, or a person known by unionid alone when the owner's unionid is unknown (the
 * same rule as a merchant's bind); a bound code moves only after USER_DELETE_MEMBERCARD (retired) and
 * a new acceptance. Only ACCEPT_CARD carries an outer_str to here (effectOf), so ACTIVATE_CARD never
 * consumes one.
 */
export function outerStrRefusal(
  existing: Binding | undefined,
  effect: Pick<BindEffect, 'unionid'>,
  owner: UserIdentity,
): OuterStrRefusal | undefined {
  if (effect.unionid && owner.unionid && effect.unionid !== owner.unionid) return 'unionid_mismatch';
  return existing?.status === 'active' && heldByAnother(existing, owner) ? 'code_held' : undefined;
}

/**
 * A bind effect against the binding as stored and the pending outer_str it names (its owner, when
 * one is pending, unexpired): the binding to store, whether the outer_str is consumed, and why not
 * when it was refused (it then stays pending for its owner).
 */
export function bindWithOuterStr(
  existing: Binding | undefined,
  effect: BindEffect,
  owner: UserIdentity | undefined,
  now: number,
): { binding: Binding; consume: boolean; refused?: OuterStrRefusal } {
  const refused = owner && outerStrRefusal(existing, effect, owner);
  const outer = owner && !refused ? owner : undefined;
  return {
    binding: mergeBind(existing, effect, outer, now),
    consume: outer !== undefined,
    ...(refused ? { refused } : {}),
  };
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
