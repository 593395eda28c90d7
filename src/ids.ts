import { randomBytes } from 'node:crypto';

/** card_id and code go into the path unencoded by the plugin's signer: only these characters may. */
const SAFE_SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

/** True for a card id or card code we may put into a WeChat Pay path. */
export function isSafeSegment(value: unknown): value is string {
  return typeof value === 'string' && SAFE_SEGMENT.test(value);
}

/** 32 characters of [A-Za-z0-9]: fits WeChat Pay's out_request_no rules, and serves as an outer_str. */
export function newRequestNo(): string {
  return randomBytes(24).toString('base64url').replace(/[-_]/g, '0').slice(0, 32);
}
