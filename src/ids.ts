import { randomBytes } from 'node:crypto';
import { isWellFormed } from './text.js';

/** Template ids as WeChat Pay hands them out: letters, digits, "_" and "-" (options check cardId the same way). */
const CARD_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** True for a card template id we may put into a WeChat Pay path. */
export function isCardId(value: unknown): value is string {
  return typeof value === 'string' && CARD_ID.test(value);
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A card code as the documentation has it: string(32), charset not stated (merchant-chosen codes
 * may hold half-width punctuation or any text), so we refuse only what cannot be a code: empty,
 * longer than 32 characters, control characters, and "." or "..", which every URL parser on the
 * way (the signer's, axios's, WeChat Pay's front end) removes as a dot segment, percent-encoded
 * or not, so that the request would address another resource.
 */
export function isCardCode(value: unknown): value is string {
  if (typeof value !== 'string' || value === '.' || value === '..' || CONTROL.test(value)) return false;
  const length = [...value].length;
  return length >= 1 && length <= 32;
}

/** A code as one path segment: percent-encoded, as the official samples' urlEncode does. */
export function codeSegment(code: string): string {
  return encodeURIComponent(code);
}

/** 32 characters of [A-Za-z0-9]: fits WeChat Pay's out_request_no rules, and serves as an outer_str. */
export function newRequestNo(): string {
  return randomBytes(24).toString('base64url').replace(/[-_]/g, '0').slice(0, 32);
}

/**
 * An identifier WeChat hands out and we store (openid, unionid, outer_str, a notification's id or
 * event type): 1 to `max` characters, well-formed, without control characters. NUL above all:
 * PostgreSQL refuses it in TEXT, so a value holding one could never be stored, and a notification
 * carrying it would fail on every redelivery. Such a value is refused or left out where it arrives.
 */
export function isOpaqueId(value: unknown, max = 128): value is string {
  return (
    typeof value === 'string' && value.length > 0 && value.length <= max && !CONTROL.test(value) && isWellFormed(value)
  );
}
