import { createHmac, timingSafeEqual } from 'node:crypto';

// The history's cursor: a position in the card's audit trail, sealed with an HMAC over the card
// it belongs to, so a client can neither forge one, nor alter one, nor use another card's.

const MAC_BYTES = 16;

function mac(key: Buffer, cardId: string, code: string, position: number): Buffer {
  return createHmac('sha256', key).update(`history\n${cardId}\n${code}\n${position}`).digest().subarray(0, MAC_BYTES);
}

/** An opaque cursor for `position` of this card's trail. */
export function sealCursor(key: Buffer, cardId: string, code: string, position: number): string {
  const body = Buffer.alloc(8);
  body.writeBigUInt64BE(BigInt(position));
  return Buffer.concat([body, mac(key, cardId, code, position)]).toString('base64url');
}

/** The position a cursor holds, or undefined when it was not made by sealCursor for this card. */
export function openCursor(key: Buffer, cardId: string, code: string, cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{32}$/.test(cursor)) return undefined;
  const raw = Buffer.from(cursor, 'base64url');
  if (raw.length !== 8 + MAC_BYTES) return undefined;
  const position = raw.readBigUInt64BE(0);
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  const expected = mac(key, cardId, code, Number(position));
  return timingSafeEqual(expected, raw.subarray(8)) ? Number(position) : undefined;
}
