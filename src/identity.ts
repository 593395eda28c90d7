import type { Context } from 'koa';
import { MemberCardError } from './errors.js';
import type { Log } from './log.js';
import type { CodeResolver, IdentityResolver } from './options.js';
import type { Binding, BindingStore, UserIdentity } from './store/types.js';
import { isCardCode, isOpaqueId } from './ids.js';

function asIdentity(value: unknown): UserIdentity | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const { openid, unionid } = value as { openid?: unknown; unionid?: unknown };
  // The same rule as for ids from WeChat: what we could not store as it is (NUL…) is no identity.
  if (!isOpaqueId(openid)) return undefined;
  return isOpaqueId(unionid) ? { openid, unionid } : { openid };
}

/** The default identity: the places Koa hosts usually keep a logged-in user. */
export const defaultIdentity: IdentityResolver = (ctx) =>
  // ctx.session last and only when needed: with koa-session, reading it may load a session.
  asIdentity(ctx.state?.user) ?? asIdentity(ctx.state) ?? asIdentity((ctx as Context & { session?: unknown }).session);

/** Who is asking; 401 UNAUTHENTICATED when the host's session has nobody. */
export async function requireUser(ctx: Context, identity: IdentityResolver): Promise<UserIdentity> {
  const user = asIdentity(await identity(ctx));
  if (!user) throw new MemberCardError('UNAUTHENTICATED', 'Log in first.');
  return user;
}

/** Where the caller's code came from, and the 服务号 openid the card must carry (when known). */
export interface ResolvedCode {
  code: string;
  /** The card's openid must equal this, or the card is not the caller's. */
  oaOpenid?: string;
  /** The binding it came from, if any (so a mismatch can flag it). */
  binding?: Binding;
}

/**
 * Whether a card answer may be this user's. Every field of the answer is optional
 * (get-member-code-info): a member synced by phone number has no openid until the card is in their
 * 卡包. So an absent openid or card_id says nothing; only a present value that differs from the
 * one expected shows the card is someone else's. Ownership otherwise rests on how the code was found.
 */
export function ownedBy(card: { card_id?: string; openid?: string }, cardId: string, oaOpenid?: string): boolean {
  if (card.card_id !== undefined && card.card_id !== cardId) return false;
  return oaOpenid === undefined || card.openid === undefined || card.openid === oaOpenid;
}

/**
 * Finds the caller's card code, in the order the README's "Identity" section gives: a binding made
 * through our own open-card flow (outer_str issued to this session user), then one by unionid, then
 * the merchant's hook.
 */
export async function resolveCode(
  ctx: Context | undefined,
  user: UserIdentity,
  deps: { cardId: string; store: BindingStore; resolveCode: CodeResolver | undefined; log: Log },
): Promise<ResolvedCode | undefined> {
  const byUser = await deps.store.findBindingByUser(deps.cardId, user.openid);
  const binding =
    byUser ?? (user.unionid ? await deps.store.findBindingByUnionid(deps.cardId, user.unionid) : undefined);
  if (binding) return { code: binding.code, ...(binding.oaOpenid ? { oaOpenid: binding.oaOpenid } : {}), binding };
  if (!deps.resolveCode) return undefined;

  const answer = await deps.resolveCode(user, ctx);
  if (answer == null) return undefined;
  const code = typeof answer === 'string' ? answer : answer.code;
  if (!isCardCode(code)) {
    // The hook's data is wrong; never send it upstream, and tell the merchant, not the user.
    deps.log('error', 'resolveCode returned an invalid code', { cardId: deps.cardId });
    throw new MemberCardError('INTERNAL_ERROR', 'Something went wrong on our side.');
  }
  const openid =
    typeof answer === 'object' && typeof answer.openid === 'string' && answer.openid ? answer.openid : undefined;
  return { code, ...(openid ? { oaOpenid: openid } : {}) };
}
