/**
 * The Redis store's key layout. Every key is `<prefix>{<tag>}<rest>`: Redis Cluster places a key by
 * its {tag} alone, so keys that one script touches share a tag and sit in one slot. A single node
 * ignores the braces. Ids are percent-encoded (encodeKeyPart), so an id can never close a tag or
 * pass for a separator; a tag only decides the slot (two tags may share one), the rest of the key
 * keeps keys apart.
 *
 *   {card:<cardId>:<code>}   one card code: binding, audit trail, journal entries, pending set,
 *                            member-code pointer, notification markers, shared cache entry (tag =
 *                            the card lock's name)
 *   {user:<cardId>:<openid>} one mini-program user: the codes bound to them, their issued outer_str
 *   {unionid:<cardId>:<id>}  the codes bound to one unionid
 *   {topup:<cardId>}         every top-up order of one card id and its two indexes
 *   {n:…} {o:…} {s:…} {rl:…} {mc:…} {opi:…} {opq:…} and each lock's name: one key each
 */

/** Percent-encodes every byte outside [A-Za-z0-9_.-]; the Lua `enc` does exactly the same. */
export function encodeKeyPart(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const enc = encodeKeyPart;

/**
 * The lock name operations take for one card code (src/operations/operations.ts). The card's keys
 * are tagged with it, so the fenced journal insert checks the lock in the card's own slot.
 */
export const cardLockName = (cardId: string, code: string): string => `card:${cardId}:${code}`;

export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** A key of its own slot, or the first of a group: `<prefix>{<tag>}<rest>`. */
  #tagged(tag: string, rest = ''): string {
    return `${this.prefix}{${tag}}${rest}`;
  }

  /** The tag of one card code's keys: the encoded name of the card's operations lock. */
  cardTag(cardId: string, code: string): string {
    return enc(cardLockName(cardId, code));
  }

  #card(kind: string, cardId: string, code: string, extra?: string): string {
    const rest = `${kind}:${enc(cardId)}:${enc(code)}${extra === undefined ? '' : `:${enc(extra)}`}`;
    return this.#tagged(this.cardTag(cardId, code), rest);
  }

  binding = (cardId: string, code: string): string => this.#card('b', cardId, code);
  audit = (cardId: string, code: string): string => this.#card('a', cardId, code);
  pendingOps = (cardId: string, code: string): string => this.#card('opp', cardId, code);
  operation = (cardId: string, code: string, requestId: string): string => this.#card('op', cardId, code, requestId);
  memberCodePointer = (cardId: string, code: string): string => this.#card('mcc', cardId, code);
  /** The shared second cache level (issue 15): the card's JSON and read time, and who is reading it now. */
  cachedCard = (cardId: string, code: string): string => this.#card('rc', cardId, code);
  cachedCardClaim = (cardId: string, code: string): string => this.#card('rcl', cardId, code);
  /** That a notification's effect was applied to this card (hash: outcome, record), for its TTL. */
  notificationMarker = (cardId: string, code: string, id: string): string => this.#card('nd', cardId, code, id);

  /** Every pending journal entry of a card id by createdAt, for the sweep (issue 18): a superset, cleaned as read. */
  staleOps = (cardId: string): string => this.#tagged(`opq:${enc(cardId)}`);

  /** Which code a journal entry (cardId, requestId) is kept under (hash: code, at). */
  operationIndex = (cardId: string, requestId: string): string => this.#tagged(`opi:${enc(cardId)}:${enc(requestId)}`);

  userIndex = (cardId: string, openid: string): string =>
    this.#tagged(enc(`user:${cardId}:${openid}`), `u:${enc(cardId)}:${enc(openid)}`);
  issuedOuterStr = (cardId: string, openid: string): string =>
    this.#tagged(enc(`user:${cardId}:${openid}`), `ou:${enc(cardId)}:${enc(openid)}`);
  unionidIndex = (cardId: string, unionid: string): string =>
    this.#tagged(enc(`unionid:${cardId}:${unionid}`), `x:${enc(cardId)}:${enc(unionid)}`);

  notification = (id: string): string => this.#tagged(`n:${enc(id)}`);
  outerStr = (outerStr: string): string => this.#tagged(`o:${enc(outerStr)}`);
  session = (tokenHash: string): string => this.#tagged(`s:${enc(tokenHash)}`);
  rateLimit = (key: string): string => this.#tagged(`rl:${enc(key)}`);
  memberCode = (hash: string): string => this.#tagged(`mc:${enc(hash)}`);
  /** A lock is tagged with its name, so a card's lock sits with the card's keys. */
  lockTag = (name: string): string => enc(name);
  lock = (name: string): string => this.#tagged(this.lockTag(name), 'l');

  #topupTag = (cardId: string): string => enc(`topup:${cardId}`);
  /** Top-up order keys of one card id start with this (the Lua finds a user's orders by it). */
  topupOrderPrefix = (cardId: string): string => this.#tagged(this.#topupTag(cardId), `tu:${enc(cardId)}:`);
  topupOrder = (cardId: string, outTradeNo: string): string => `${this.topupOrderPrefix(cardId)}${enc(outTradeNo)}`;
  topupsOfUser = (cardId: string, openid: string): string =>
    this.#tagged(this.#topupTag(cardId), `tuu:${enc(cardId)}:${enc(openid)}`);
  topupsDue = (cardId: string): string => this.#tagged(this.#topupTag(cardId), `tud:${enc(cardId)}`);
}
