import type { Binding, UserIdentity } from './types.js';

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
