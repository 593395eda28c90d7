import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { OptionsError } from '../errors.js';

/** Fewest characters a token may have: 32 random hex digits are 128 bits. */
export const ADMIN_TOKEN_MIN_LENGTH = 32;

/**
 * Why a token is too weak to guard the back office, or undefined when it is fine: shorter than 32,
 * not printable ASCII, or trivially repetitive: fewer than 8 different characters, one unit
 * repeated ("abab…"), or three quarters runs ("aaaa", "abcd", "4321"). Random hex has a step of at
 * most 1 between neighbours 17% of the time, so a random 32-digit token is three quarters steps with
 * odds near 1e-13 (a "more than half" rule refused one in 80,000).
 */
export function adminTokenWeakness(value: string): string | undefined {
  if (!/^[\x21-\x7e]+$/.test(value)) return 'must be printable ASCII without spaces';
  if (value.length < ADMIN_TOKEN_MIN_LENGTH) return `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters`;
  if (new Set(value).size < 8) return 'is too repetitive (fewer than 8 different characters)';
  if (periodic(value)) return 'is too repetitive (one part repeated)';
  let steps = 0;
  for (let i = 1; i < value.length; i++) {
    if (Math.abs(value.charCodeAt(i) - value.charCodeAt(i - 1)) <= 1) steps += 1;
  }
  if (steps * 4 >= (value.length - 1) * 3) return 'is too repetitive (runs like "aaaa" or "abcd")';
  return undefined;
}

/** True when the value is some shorter part said again and again ("abcabcabca"). */
function periodic(value: string): boolean {
  for (let period = 1; period <= value.length / 2; period++) {
    let repeats = true;
    for (let i = period; i < value.length && repeats; i++) repeats = value[i] === value[i - period];
    if (repeats) return true;
  }
  return false;
}

/**
 * authorizeAdmin for serve: the request must carry MEMBERCARD_ADMIN_TOKEN in X-Admin-Token (or as
 * Authorization: Bearer, which the login kit ignores when it is not a session token). Compared in
 * constant time over SHA-256 digests, so neither the content nor the length leaks through timing.
 * Failed attempts are throttled per client address by the admin guard (routes/admin.ts).
 */
export function adminTokenAuthorizer(value: string | undefined): ((ctx: Context) => boolean) | undefined {
  if (value === undefined || value === '') return undefined;
  const weakness = adminTokenWeakness(value);
  // Says what is wrong, never the value.
  if (weakness) throw new OptionsError(`MEMBERCARD_ADMIN_TOKEN ${weakness}: make one with \`openssl rand -hex 32\``);
  const expected = createHash('sha256').update(value).digest();
  return (ctx) => {
    const sent = ctx.get('X-Admin-Token') || /^Bearer\s+(\S+)$/i.exec(ctx.get('Authorization'))?.[1] || '';
    return timingSafeEqual(createHash('sha256').update(sent).digest(), expected);
  };
}
