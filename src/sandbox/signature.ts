import { sign, verify, type KeyObject } from 'node:crypto';
import { randomNonce } from './ids.js';

// Both directions of WeChat Pay's APIv3 signature scheme: checking the merchant's Authorization
// header on the way in, and signing every answer with the platform key on the way out.

export const SCHEME = 'WECHATPAY2-SHA256-RSA2048';
/** WeChat Pay refuses requests whose timestamp is further than this from its clock. */
export const MAX_CLOCK_SKEW_S = 300;
/** A nonce may not be reused by the same merchant within this window. */
export const NONCE_WINDOW_MS = 5 * 60_000;

export class SignatureError extends Error {}

/**
 * Parses `WECHATPAY2-SHA256-RSA2048 k="v",k="v"` in any parameter order, with optional spaces
 * around commas, so any correct client (curl scripts, other SDKs) is accepted.
 */
export function parseAuthorization(header: string | undefined): Record<string, string> {
  if (!header) throw new SignatureError('missing Authorization header');
  const match = /^\s*(\S+)\s+(.*)$/s.exec(header);
  if (!match || match[1] !== SCHEME) throw new SignatureError(`Authorization scheme must be ${SCHEME}`);
  const params: Record<string, string> = {};
  for (const part of (match[2] ?? '').split(',')) {
    const pair = /^\s*([A-Za-z_]+)\s*=\s*"([^"]*)"\s*$/.exec(part);
    if (!pair || pair[1] === undefined || pair[2] === undefined) {
      throw new SignatureError(`malformed Authorization parameter: ${part.trim()}`);
    }
    if (pair[1] in params) throw new SignatureError(`duplicate Authorization parameter ${pair[1]}`);
    params[pair[1]] = pair[2];
  }
  for (const required of ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no']) {
    if (!params[required]) throw new SignatureError(`Authorization lacks ${required}`);
  }
  return params;
}

export interface Merchant {
  mchid: string;
  serial: string;
  publicKey: KeyObject;
}

export interface RequestToCheck {
  method: string;
  /** The raw request target exactly as received (req.url): never decoded or normalized. */
  target: string;
  authorization: string | undefined;
  body: Buffer;
}

/** Checks Authorization headers as WeChat Pay does, remembering nonces to refuse replays. */
export class RequestVerifier {
  private readonly seen = new Map<string, number>(); // `${mchid}\n${nonce}` → time first seen

  constructor(
    private readonly merchants: Merchant[],
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns the mchid on success; throws SignatureError saying which check failed. */
  verify(request: RequestToCheck): string {
    const p = parseAuthorization(request.authorization);
    const mchid = p.mchid ?? '';
    const merchant = this.merchants.find((m) => m.mchid === mchid);
    if (!merchant) throw new SignatureError(`unknown mchid ${mchid}`);
    // Serials are hex numbers: compare them case-insensitively.
    if ((p.serial_no ?? '').toUpperCase() !== merchant.serial.toUpperCase()) {
      throw new SignatureError(`serial_no ${p.serial_no} is not a certificate of merchant ${mchid}`);
    }
    const timestamp = p.timestamp ?? '';
    if (!/^\d{1,12}$/.test(timestamp)) throw new SignatureError('timestamp is not a number of seconds');
    const nowMs = this.now();
    if (Math.abs(nowMs / 1000 - Number(timestamp)) > MAX_CLOCK_SKEW_S) throw new SignatureError('timestamp expired');
    const nonce = p.nonce_str ?? '';
    this.forgetOldNonces(nowMs);
    const nonceKey = `${mchid}\n${nonce}`;
    if (this.seen.has(nonceKey)) throw new SignatureError('nonce_str replayed');
    // Concatenate bytes, not strings, so a body is checked exactly as it arrived.
    const message = Buffer.concat([
      Buffer.from(`${request.method}\n${request.target}\n${timestamp}\n${nonce}\n`, 'utf8'),
      request.body,
      Buffer.from('\n'),
    ]);
    const signature = Buffer.from(p.signature ?? '', 'base64');
    let valid: boolean;
    try {
      valid = verify('sha256', message, merchant.publicKey, signature);
    } catch {
      valid = false;
    }
    if (!valid) throw new SignatureError('signature does not verify with the merchant certificate');
    // Only a request that passed is remembered, so junk cannot burn a merchant's nonces.
    this.seen.set(nonceKey, nowMs);
    return mchid;
  }

  /** The map is in insertion (= time) order: drop from the front until the first fresh one. */
  private forgetOldNonces(nowMs: number): void {
    for (const [key, at] of this.seen) {
      if (nowMs - at <= NONCE_WINDOW_MS) break;
      this.seen.delete(key);
    }
  }
}

export interface SignedHeaders {
  'Wechatpay-Timestamp': string;
  'Wechatpay-Nonce': string;
  'Wechatpay-Serial': string;
  'Wechatpay-Signature': string;
  'Wechatpay-Signature-Type': string;
}

/** The prefix WeChat Pay gives the signatures it sends to probe whether merchants verify them. */
export const SIGNATURE_PROBE_PREFIX = 'WECHATPAY/SIGNTEST/';

/** Platform signature over `timestamp\nnonce\nbody\n`, for responses and notifications alike. */
export function platformHeaders(
  body: string,
  platform: { serial: string; privateKey: KeyObject },
  options: { corrupt?: boolean; probe?: boolean } = {},
): SignedHeaders {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomNonce();
  // A corrupt signature is still well-formed base64 of the right length: it signs other bytes.
  const signed = options.corrupt ? `${timestamp}\n${nonce}\n${body}\ncorrupted\n` : `${timestamp}\n${nonce}\n${body}\n`;
  const signature = sign('sha256', Buffer.from(signed, 'utf8'), platform.privateKey).toString('base64');
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Serial': platform.serial,
    // A probe is a signature that cannot verify, marked as such (doc/v3/merchant/4016241880).
    'Wechatpay-Signature': options.probe ? `${SIGNATURE_PROBE_PREFIX}${signature}` : signature,
    'Wechatpay-Signature-Type': SCHEME,
  };
}
