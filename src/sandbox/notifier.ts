import { createCipheriv, randomUUID } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Behaviour } from './behaviour.js';
import type { Faults } from './faults.js';
import { chinaTime, randomAlnum, randomRequestId } from './ids.js';
import type { PlatformKeys } from './platform-keys.js';
import { platformHeaders } from './signature.js';
import type { SandboxState, StoredNotification } from './state.js';

// Card notifications the way WeChat Pay sends them: the payload encrypted under the APIv3 key
// inside the documented envelope, signed with a platform key, POSTed to the registered notify
// URL, and retried until a 2xx answer arrives in time (5 s) or the schedule is used up.

/**
 * The waits between deliveries, in seconds. The member-card notice pages say "通知频率为60s/次 -
 * 总计11次" (11 deliveries, 60 s apart: about 10 minutes), and on the same page "所有通知频率(4小时)";
 * other sources copy the payment notifications' schedule (24 h 4 min in all). The first is the
 * default, the other a behaviour switch (retrySchedule).
 */
export const RETRY_SCHEDULES = {
  membercard: Array.from({ length: 10 }, () => 60),
  payment: [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600],
} as const;

/** @deprecated The payment schedule, which member cards no longer use by default: see RETRY_SCHEDULES. */
export const RETRY_SCHEDULE_S: readonly number[] = RETRY_SCHEDULES.payment;

export type NotificationEvent = 'MEMBERCARD.ACCEPT_CARD' | 'MEMBERCARD.ACTIVATE_CARD' | 'MEMBERCARD.USERCARD_MANAGE';

const SUMMARY: Record<NotificationEvent, string> = {
  'MEMBERCARD.ACCEPT_CARD': '用户领取会员卡',
  'MEMBERCARD.ACTIVATE_CARD': '用户激活会员卡',
  'MEMBERCARD.USERCARD_MANAGE': '用户管理会员卡',
};

export interface NotifierOptions {
  state: SandboxState;
  apiv3Key: string;
  /** Picks the key for each delivery (behaviour notifyKey, or a notification fault). */
  platform: PlatformKeys;
  behaviour: Behaviour;
  faults: Faults;
  retryFactor: number;
  timeoutMs: number;
  log: (line: string) => void;
}

/** AES-256-GCM as WeChat Pay uses it: IV = the nonce's bytes, output = ciphertext || 16-byte tag. */
export function encryptResource(plaintext: string, apiv3Key: string, nonce: string, aad: string): string {
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3Key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

interface Outcome {
  status?: number;
  error?: string;
  /** The Wechatpay-Serial the delivery was signed under. */
  serial: string;
}

export class Notifier {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Map<string, ClientRequest>();
  private closed = false;
  /** Every delivery so far, of any notification: 'alternate' switches keys on it. */
  private deliveries = 0;

  constructor(private readonly options: NotifierOptions) {}

  /** Stores a notification and sends it now, or when a notify URL is registered. */
  enqueue(
    eventType: NotificationEvent,
    payload: { card_id: string; code?: string } & Record<string, unknown>,
  ): StoredNotification {
    const nonce = randomAlnum(12);
    // The value is not documented for member cards ("长度小于16个字节并可能为空"): a switch.
    const aad = this.options.behaviour.get().associatedData;
    const associatedData = aad === 'membercard' ? 'membercard' : '';
    const envelope = {
      id: randomUUID(),
      create_time: chinaTime(),
      event_type: eventType,
      resource_type: 'encrypt-resource',
      summary: SUMMARY[eventType],
      resource: {
        original_type: 'membercard',
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: encryptResource(JSON.stringify(payload), this.options.apiv3Key, nonce, associatedData),
        ...(aad === 'absent' ? {} : { associated_data: associatedData }),
        nonce,
      },
    };
    const stored: StoredNotification = {
      id: envelope.id,
      event_type: eventType,
      card_id: payload.card_id,
      code: payload.code ?? '',
      body: JSON.stringify(envelope),
      attempts: 0,
      last_status: null,
      delivered: false,
      abandoned: false,
      created_at: Date.now(),
    };
    this.options.state.data.notifications.push(stored);
    this.options.state.save();
    this.schedule(stored, 0);
    return stored;
  }

  /**
   * A payment notification (TRANSACTION.SUCCESS, payment-notice.html): the Transaction encrypted in the
   * same envelope (original_type transaction, summary 支付成功), POSTed to the order's own notify_url,
   * retried on the payment schedule. `duplicates`: extra deliveries after one is acknowledged (WeChat
   * Pay "同样的通知可能会多次发送"); `delayMs`: a late first delivery.
   */
  enqueuePayment(
    transaction: { out_trade_no: string } & Record<string, unknown>,
    notifyUrl: string,
    options: { duplicates?: number; delayMs?: number } = {},
  ): StoredNotification {
    const nonce = randomAlnum(12);
    // The official sample shows "", real payloads "transaction": a switch.
    const associatedData = this.options.behaviour.get().payAssociatedData === 'transaction' ? 'transaction' : '';
    const envelope = {
      id: randomUUID(),
      create_time: chinaTime(),
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: {
        original_type: 'transaction',
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: encryptResource(JSON.stringify(transaction), this.options.apiv3Key, nonce, associatedData),
        associated_data: associatedData,
        nonce,
      },
    };
    const stored: StoredNotification = {
      id: envelope.id,
      event_type: envelope.event_type,
      card_id: '',
      code: '',
      out_trade_no: transaction.out_trade_no,
      notify_url: notifyUrl,
      ...(options.duplicates ? { duplicates: options.duplicates } : {}),
      body: JSON.stringify(envelope),
      attempts: 0,
      last_status: null,
      delivered: false,
      abandoned: false,
      created_at: Date.now(),
    };
    this.options.state.data.notifications.push(stored);
    this.options.state.save();
    this.schedule(stored, options.delayMs ?? 0);
    return stored;
  }

  /** Sends everything still pending that is not already waiting or in flight. */
  resume(): void {
    for (const n of this.options.state.data.notifications) {
      if (!n.delivered && !n.abandoned && !this.timers.has(n.id) && !this.inFlight.has(n.id)) this.schedule(n, 0);
    }
  }

  /** Stops every timer and open request, so nothing keeps the process alive after close(). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const req of this.inFlight.values()) req.destroy();
    this.inFlight.clear();
  }

  private schedule(n: StoredNotification, delayMs: number): void {
    // Without a notify URL the notification stays pending; resume() picks it up later.
    if (this.closed || !this.urlOf(n)) return;
    this.timers.set(
      n.id,
      setTimeout(() => {
        this.timers.delete(n.id);
        void this.attempt(n);
      }, delayMs),
    );
  }

  /** A payment goes where its order said; a card notification to the URL set by PATCH /callback. */
  private urlOf(n: StoredNotification): string | null {
    return n.notify_url ?? this.options.state.data.notify_url;
  }

  private async attempt(n: StoredNotification): Promise<void> {
    const url = this.urlOf(n);
    if (!url || this.closed) return;
    const outcome = await this.post(n, url);
    if (this.closed) return;
    n.attempts += 1;
    n.last_serial = outcome.serial;
    n.last_status = outcome.status ?? null;
    if (outcome.error === undefined) delete n.last_error;
    else n.last_error = outcome.error;
    n.delivered = outcome.status !== undefined && outcome.status >= 200 && outcome.status < 300;
    this.options.log(`notify ${n.event_type} ${n.id} attempt ${n.attempts} -> ${outcome.status ?? outcome.error}`);
    if (n.delivered && n.duplicates) {
      n.duplicates -= 1;
      this.schedule(n, 0);
    } else if (!n.delivered) {
      // Payments: the payment notice pages' schedule, which every source agrees on.
      const schedule = n.out_trade_no ? 'payment' : this.options.behaviour.get().retrySchedule;
      const waitS = RETRY_SCHEDULES[schedule][n.attempts - 1];
      if (waitS === undefined) n.abandoned = true;
      else this.schedule(n, waitS * 1000 * this.options.retryFactor);
    }
    this.options.state.save();
  }

  /** One delivery: fresh timestamp, nonce and signature each time; same id and body. */
  private post(n: StoredNotification, url: string): Promise<Outcome> {
    const fault = this.options.faults.takeNotification();
    this.deliveries += 1;
    const signer = this.options.platform.forNotification(this.deliveries, fault?.sign_with);
    const damage = { corrupt: fault?.bad_signature === true, probe: fault?.signature_probe === true };
    return new Promise((resolve) => {
      const headers = {
        ...platformHeaders(n.body, signer, damage),
        'Request-ID': randomRequestId(),
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(n.body)),
        'User-Agent': 'Mozilla/4.0',
      };
      const send = url.startsWith('https:') ? httpsRequest : httpRequest;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let req: ClientRequest | undefined;
      const finish = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(n.id);
        req?.destroy();
        resolve(outcome);
      };
      try {
        // agent:false: one connection per attempt, so no idle keep-alive socket outlives close().
        req = send(url, { method: 'POST', headers, agent: false }, (res: IncomingMessage) => {
          res.resume();
          finish({ status: res.statusCode ?? 0, serial: signer.serial });
        });
      } catch (err) {
        finish({ error: err instanceof Error ? err.message : String(err), serial: signer.serial });
        return;
      }
      timer = setTimeout(
        () => finish({ error: `no answer within ${this.options.timeoutMs} ms`, serial: signer.serial }),
        this.options.timeoutMs,
      );
      req.on('error', (err: Error) => finish({ error: err.message, serial: signer.serial }));
      this.inFlight.set(n.id, req);
      req.end(n.body);
    });
  }
}
