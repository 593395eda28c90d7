// Builds member-card notifications exactly as WeChat Pay's envelope has them, signed with a
// key of the test's choice, so tests can send genuine, forged, stale or tampered ones.
import { createCipheriv, createSign, randomBytes, randomUUID } from 'node:crypto';

export interface NotificationParts {
  eventType: string;
  payload: Record<string, unknown>;
  apiv3Key: string;
  signingKey: string;
  serial: string;
  id?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
}

export function encryptResource(plaintext: string, apiv3Key: string) {
  const nonce = randomBytes(9).toString('base64url').slice(0, 12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3Key), Buffer.from(nonce));
  cipher.setAAD(Buffer.from('membercard'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString(
    'base64',
  );
  return {
    original_type: 'membercard',
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext,
    associated_data: 'membercard',
    nonce,
  };
}

export function signHeaders(
  body: string,
  signingKey: string,
  serial: string,
  timestamp = Math.floor(Date.now() / 1000),
) {
  const nonce = randomBytes(16).toString('hex');
  const signature = createSign('RSA-SHA256').update(`${timestamp}\n${nonce}\n${body}\n`).sign(signingKey, 'base64');
  return {
    'content-type': 'application/json',
    'wechatpay-timestamp': String(timestamp),
    'wechatpay-nonce': nonce,
    'wechatpay-serial': serial,
    'wechatpay-signature': signature,
    'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
  };
}

export function buildNotification(parts: NotificationParts): {
  headers: Record<string, string>;
  body: string;
  id: string;
} {
  const id = parts.id ?? randomUUID();
  const body = JSON.stringify({
    id,
    create_time: new Date().toISOString(),
    event_type: parts.eventType,
    resource_type: 'encrypt-resource',
    summary: 'test',
    resource: encryptResource(JSON.stringify(parts.payload), parts.apiv3Key),
  });
  return { headers: signHeaders(body, parts.signingKey, parts.serial, parts.timestamp), body, id };
}
