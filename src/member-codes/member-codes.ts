import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { loadBrand } from '../brand.js';
import { MemberCardError } from '../errors.js';
import { invalid } from '../operations/validate.js';
import { loadOwnCard } from '../routes/my-card.js';
import { rateLimiter } from '../rate-limit.js';
import type { Runtime } from '../runtime.js';
import type { CardStore, MemberCodeStore, UserIdentity } from '../store/types.js';
import type { CodeType } from '../wechatpay/types.js';
import { hashMemberCode, isMemberCodeShape, newMemberCode } from './code.js';

/** `GET /code`: what the member shows at the till. */
export interface MemberCodeAnswer {
  /** 18 digits, valid once until expiresAt; or, with rotation off, the membership number. */
  code: string;
  /** ISO 8601; null when the code does not expire (rotation off). */
  expiresAt: string | null;
  /** Seconds from now after which to fetch the next code (relative, so a phone's wrong clock does not matter). */
  refreshAfter: number | null;
  rotating: boolean;
  /** How to draw it: the template's code_type. */
  codeType: CodeType;
}

/** What the till gets for a verified code: the card, once. */
export interface VerifiedMember {
  code: string;
  membership_number?: string;
  level?: string;
  /** Fen. */
  balance?: number;
  bonus_value?: number;
  user_card_status?: string;
}

export interface MemberCodes {
  /** A new one-time code for this user's own card (the previous one stops working). */
  issue(user: UserIdentity, ctx?: Context): Promise<MemberCodeAnswer>;
  /** The card a code stands for, once; MEMBER_CODE_INVALID (404) for an unknown, expired or used code. */
  verify(code: unknown): Promise<VerifiedMember>;
}

const unknownCode = (): MemberCardError => new MemberCardError('MEMBER_CODE_INVALID', 'No such member code.');

/** The store's member-code role: every engine has it; a host's own object may not (501). */
function codesOf(store: CardStore): MemberCodeStore {
  const { putMemberCode, consumeMemberCode } = store;
  if (!putMemberCode || !consumeMemberCode)
    throw new MemberCardError(
      'NOT_IMPLEMENTED',
      'This store keeps no member codes (putMemberCode, consumeMemberCode).',
    );
  return { putMemberCode: putMemberCode.bind(store), consumeMemberCode: consumeMemberCode.bind(store) };
}

export function createMemberCodes(rt: Runtime): MemberCodes {
  const { cardId } = rt.options;
  const { rotate, ttlMs } = rt.options.memberCode;
  // Fetch the next code a quarter of its life before it ends (at least 10 s): time for a slow network.
  const refreshAfter = Math.floor((ttlMs - Math.max(10_000, ttlMs / 4)) / 1000);

  const bucket = { capacity: rt.options.memberCode.burst, refillPerSecond: rt.options.memberCode.perMinute / 60 };
  // The store's buckets, or, for a host's own store object without them, this instance's (rate-limit.ts).
  const limiter = rateLimiter(rt.store);

  /** Per user, before anything else is read: a refused request costs neither the store's card nor WeChat Pay. */
  async function limit(user: UserIdentity): Promise<void> {
    // Hashed: an openid may be 128 characters, a bucket key at most 200.
    const key = `member-code\n${cardId}\n${createHash('sha256').update(user.openid).digest('hex')}`;
    const taken = await limiter.take(key, bucket);
    if (!taken.allowed) {
      rt.metrics.rateLimited('member_code');
      throw new MemberCardError('RATE_LIMITED', 'Too many member codes. Try again shortly.', {
        retryAfter: Math.max(1, Math.ceil((taken.retryAfterMs ?? 1000) / 1000)),
      });
    }
  }

  return {
    async issue(user, ctx) {
      await limit(user);
      const { card, code } = await loadOwnCard(ctx, rt, user);
      const codeType = (await loadBrand(rt))?.code_type ?? 'BAR_CODE_AND_QRCODE';
      if (!rotate) {
        // The code WeChat itself draws: membership_number, which defaults to the card code.
        return { code: card.membership_number || code, expiresAt: null, refreshAfter: null, rotating: false, codeType };
      }
      const store = codesOf(await rt.store());
      const memberCode = newMemberCode();
      const expiresAt = Date.now() + ttlMs;
      await store.putMemberCode(hashMemberCode(rt.secrets.memberCode, memberCode), {
        cardId,
        code,
        userOpenid: user.openid,
        expiresAt,
      });
      return {
        code: memberCode,
        expiresAt: new Date(expiresAt).toISOString(),
        refreshAfter,
        rotating: true,
        codeType,
      };
    },

    async verify(given) {
      if (typeof given !== 'string') throw invalid('code', 'must be the 18-digit member code as a string');
      // Any string is a code we may not know; only the shape is checked before asking the store.
      if (!isMemberCodeShape(given)) throw unknownCode();
      const entry = await codesOf(await rt.store()).consumeMemberCode(hashMemberCode(rt.secrets.memberCode, given));
      if (!entry || entry.cardId !== cardId) throw unknownCode();
      const card = await rt.cache.card(entry.cardId, entry.code, () => rt.client.getCard(entry.cardId, entry.code));
      const member: VerifiedMember = { code: entry.code };
      if (card.membership_number !== undefined) member.membership_number = card.membership_number;
      if (card.level !== undefined) member.level = card.level;
      if (card.balance !== undefined) member.balance = card.balance;
      if (card.bonus_value !== undefined) member.bonus_value = card.bonus_value;
      if (card.user_card_status !== undefined) member.user_card_status = card.user_card_status;
      return member;
    },
  };
}
