import { createHmac, randomInt } from 'node:crypto';

/** 18 digits, as WeChat's own dynamic code (need_dynamic_code): about 60 bits. */
const SHAPE = /^\d{18}$/;

/** A new member code: 18 decimal digits from the CSPRNG, uniform (two draws of 9 digits). */
export function newMemberCode(): string {
  const half = () => String(randomInt(1_000_000_000)).padStart(9, '0');
  return half() + half();
}

/** Whether a value can be a member code at all (anything else is unknown without asking the store). */
export function isMemberCodeShape(value: string): boolean {
  return SHAPE.test(value);
}

/**
 * What the store keeps instead of the code: HMAC-SHA256 under a server-side key. 60 bits are too
 * few for a bare hash (a stolen table could be searched through); without the key they are not.
 */
export function hashMemberCode(key: Buffer, code: string): string {
  return createHmac('sha256', key).update(code).digest('base64url');
}
