import type { KeyObject } from 'node:crypto';
import { Aes, Formatter, Rsa } from 'wechatpay-axios-plugin';
import { MemberCardError } from '../errors.js';
import { isOpaqueId } from '../ids.js';
import type { NotificationPayload, VerifiedNotification } from './types.js';

/** WeChat Pay's documented clock window for signed messages. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

export interface NotificationVerifierOptions {
  /** Trusted platform keys by Wechatpay-Serial; several during a key rotation. */
  certs: Record<string, KeyObject>;
  apiv3Key: string;
  /** For tests of the clock window; seconds since the epoch. */
  now?: () => number;
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function invalid(message: string): MemberCardError {
  return new MemberCardError('NOTIFICATION_INVALID', message);
}

function unreadable(message: string): MemberCardError {
  return new MemberCardError('NOTIFICATION_UNREADABLE', message);
}

interface Envelope {
  id: string;
  create_time?: string;
  event_type: string;
  resource: { algorithm: string; ciphertext: string; nonce: string; associated_data?: string };
}

function parseEnvelope(rawBody: string): Envelope {
  let body: unknown;
  try {
    body = JSON.parse(rawBody);
  } catch {
    throw unreadable('The notification body is not JSON.');
  }
  const e = body as Partial<Envelope> | null;
  const r = e?.resource;
  if (
    !e ||
    // Both are stored: no control character (PostgreSQL refuses NUL), nothing malformed.
    !isOpaqueId(e.id, 64) ||
    !isOpaqueId(e.event_type, 64) ||
    !r ||
    typeof r !== 'object' ||
    typeof r.ciphertext !== 'string' ||
    typeof r.nonce !== 'string' ||
    (r.associated_data !== undefined && typeof r.associated_data !== 'string')
  ) {
    throw unreadable('The notification envelope is incomplete.');
  }
  if (r.algorithm !== 'AEAD_AES_256_GCM')
    throw unreadable(`Unsupported notification algorithm ${String(r.algorithm).slice(0, 32)}.`);
  return e as Envelope;
}

/**
 * Verifies and decrypts WeChat Pay notifications: the four Wechatpay-* headers, the clock
 * window, a trusted serial and the RSA signature over the raw body; then AES-256-GCM with the
 * APIv3 key. Throws NOTIFICATION_INVALID (not from WeChat Pay) or NOTIFICATION_UNREADABLE.
 */
export class NotificationVerifier {
  readonly #options: NotificationVerifierOptions;

  constructor(options: NotificationVerifierOptions) {
    this.#options = options;
  }

  verify(headers: Headers, rawBody: string): VerifiedNotification {
    const timestamp = header(headers, 'Wechatpay-Timestamp');
    const nonce = header(headers, 'Wechatpay-Nonce');
    const serial = header(headers, 'Wechatpay-Serial');
    const signature = header(headers, 'Wechatpay-Signature');
    if (!timestamp || !nonce || !serial || !signature) throw invalid('The Wechatpay-* signature headers are missing.');
    if (!/^\d{1,12}$/.test(timestamp)) throw invalid('Wechatpay-Timestamp is not a timestamp.');
    const now = this.#options.now?.() ?? Math.floor(Date.now() / 1000);
    if (Math.abs(now - Number(timestamp)) > MAX_CLOCK_SKEW_SECONDS)
      throw invalid('The notification is outside the 300 s window.');
    const key = Object.prototype.hasOwnProperty.call(this.#options.certs, serial)
      ? this.#options.certs[serial]
      : undefined;
    if (!key) throw invalid('The notification is signed by a key we do not trust.');
    let valid: boolean;
    try {
      valid = Rsa.verify(Formatter.joinedByLineFeed(timestamp, nonce, rawBody), signature, key);
    } catch {
      valid = false;
    }
    if (!valid) throw invalid('The notification signature does not verify.');

    const envelope = parseEnvelope(rawBody);
    let plaintext: string;
    try {
      plaintext = Aes.AesGcm.decrypt(
        envelope.resource.ciphertext,
        this.#options.apiv3Key,
        envelope.resource.nonce,
        envelope.resource.associated_data ?? '',
      );
    } catch {
      throw unreadable('The notification could not be decrypted.');
    }
    let payload: unknown;
    try {
      payload = JSON.parse(plaintext);
    } catch {
      throw unreadable('The decrypted notification is not JSON.');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload))
      throw unreadable('The decrypted notification is not an object.');
    return {
      id: envelope.id,
      eventType: envelope.event_type,
      ...(envelope.create_time ? { createTime: envelope.create_time } : {}),
      payload: payload as NotificationPayload,
    };
  }
}
