import type { KeyObject } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Decorator } from 'wechatpay-axios-plugin';
import { MemberCardError, OptionsError } from '../errors.js';
import { codeSegment, isCardCode, isCardId } from '../ids.js';
import type { Log } from '../log.js';
import type { UpstreamOutcome } from '../metrics/metrics.js';
import type { JsapiOrderRequest, Transaction } from './pay-types.js';
import { payError } from './pay-errors.js';
import type { CardTemplate, CardUpdate, RightsUpdate, UpstreamCard } from './types.js';
import {
  describeFailure,
  isSignatureFailure,
  isTransient,
  toClientError,
  type UpstreamFailure,
} from './upstream-errors.js';
import { outcomeOf } from './upstream-outcome.js';

export interface WechatpayClientOptions {
  mchid: string;
  serial: string;
  privateKey: KeyObject;
  /** Trusted platform keys by Wechatpay-Serial: PUB_KEY_ID_… or a platform certificate serial. */
  certs: Record<string, KeyObject>;
  /** Sent as Wechatpay-Serial on every request: the platform key we expect answers to be signed with. */
  requestSerial: string;
  baseURL: string;
  /** Per attempt, ms. */
  timeout: number;
  /** Extra attempts after a transient failure, for calls that are safe to repeat. */
  retries: number;
  log: Log;
  /** Awaited before each read (card, template) is sent: the upstream budget, which may refuse it. */
  budget?: () => Promise<void>;
  /** Told of every attempt: the API as a template (no id, no code), how it ended, seconds. */
  onAttempt?: (api: string, outcome: UpstreamOutcome, seconds: number) => void;
}

/** The plugin's signing and verifying axios instance. */
type SignedHttp = ReturnType<typeof Decorator.jsonBased>;

const BASE = 'v3/marketing/membercard-open';

/** The APIs we call, as metric labels: templates, so no card id, code or order number is ever one. */
const API = {
  card: '/v3/marketing/membercard-open/cards/{card_id}/codes/{code}',
  template: '/v3/marketing/membercard-open/cards/{card_id}',
  rights: '/v3/marketing/membercard-open/cards/{card_id}/codes/{code}/rights',
  callback: '/v3/marketing/membercard-open/callback',
  jsapi: '/v3/pay/transactions/jsapi',
  order: '/v3/pay/transactions/out-trade-no/{out_trade_no}',
  close: '/v3/pay/transactions/out-trade-no/{out_trade_no}/close',
} as const;
const PAY_JSAPI = 'v3/pay/transactions/jsapi';
const PAY_BY_OUT_TRADE_NO = 'v3/pay/transactions/out-trade-no';

/** An out_trade_no as one path segment ("数字、大小写字母_-*": nothing to encode, but never trusted blindly). */
function orderSegment(outTradeNo: string): string {
  if (!/^[0-9A-Za-z_*-]{6,32}$/.test(outTradeNo)) throw new TypeError('out_trade_no must be 6-32 of [0-9A-Za-z_*-]');
  return outTradeNo;
}
/** The card's path, the code percent-encoded: the plugin signs the URL as it is sent. */
function cardPath(cardId: string, code: string): string {
  if (!isCardId(cardId) || !isCardCode(code)) {
    // Our own data is wrong (a bad resolveCode answer, say): never send it upstream.
    throw new TypeError('card_id must be 1-64 letters, digits, "_" or "-"; code 1-32 characters, no control ones');
  }
  return `${BASE}/cards/${cardId}/codes/${codeSegment(code)}`;
}

/**
 * Our typed client for the member-card API, over wechatpay-axios-plugin's signing and
 * verifying axios instance. Every failure leaves here as a MemberCardError with our codes.
 */
export class WechatpayClient {
  readonly #http: SignedHttp;
  readonly #options: WechatpayClientOptions;

  constructor(options: WechatpayClientOptions) {
    this.#options = options;
    // The plugin mutates the object it is given: hand it a fresh one. Its config is axios's too
    // (baseURL, timeout, maxRedirects), which its declared type leaves out.
    const config = {
      mchid: options.mchid,
      serial: options.serial,
      privateKey: options.privateKey,
      certs: { ...options.certs },
      baseURL: options.baseURL,
      timeout: options.timeout,
      // Status handling is ours; the plugin must not follow redirects to another host either.
      maxRedirects: 0,
    };
    try {
      this.#http = Decorator.jsonBased(config);
    } catch (err) {
      throw new OptionsError((err as Error).message, { factory: 'memberCard()', option: 'wechatpay' });
    }
  }

  /** GET a user's card. Safe to repeat, so transient faults are retried. */
  async getCard(cardId: string, code: string): Promise<UpstreamCard> {
    await this.#options.budget?.();
    const data = await this.#send(API.card, 'GET', cardPath(cardId, code), undefined, true, true);
    if (!data || typeof data !== 'object') throw toClientError({ code: 'BAD_RESPONSE', status: 502 });
    return data as UpstreamCard;
  }

  /** GET the card template (查询会员卡模板信息): brand, logo, title, code type. Safe to repeat. */
  async getCardTemplate(cardId: string): Promise<CardTemplate> {
    if (!isCardId(cardId)) throw new TypeError('card_id must be 1-64 letters, digits, "_" or "-"');
    await this.#options.budget?.();
    const data = await this.#send(API.template, 'GET', `${BASE}/cards/${cardId}`, undefined, true);
    if (!data || typeof data !== 'object') throw toClientError({ code: 'BAD_RESPONSE', status: 502 });
    return data;
  }

  /** PATCH a user's card. The out_request_no makes a retry safe: WeChat Pay applies it once. */
  async updateCard(cardId: string, code: string, update: CardUpdate): Promise<void> {
    await this.#send(API.card, 'PATCH', cardPath(cardId, code), update, true, true);
  }

  /** PATCH a user's points. */
  async updateRights(cardId: string, code: string, update: RightsUpdate): Promise<void> {
    await this.#send(API.rights, 'PATCH', `${cardPath(cardId, code)}/rights`, update, true, true);
  }

  /** Registers where WeChat Pay sends member-card notifications. */
  async setNotifyUrl(notifyUrl: string): Promise<void> {
    await this.#send(API.callback, 'PATCH', `${BASE}/callback`, { notify_url: notifyUrl }, true);
  }

  async getNotifyUrl(): Promise<{ notify_url?: string; mchid?: string }> {
    return (await this.#send(API.callback, 'GET', `${BASE}/callback`, undefined, true)) as {
      notify_url?: string;
      mchid?: string;
    };
  }

  /**
   * JSAPI order (POST /v3/pay/transactions/jsapi). Repeatable: "calling again with the same
   * parameters returns the order's latest prepay_id", and a 5xx asks for a retry with the same ones.
   */
  async createJsapiOrder(order: JsapiOrderRequest): Promise<{ prepay_id: string }> {
    const data = await this.#send(API.jsapi, 'POST', PAY_JSAPI, order, true, false, payError);
    const prepayId = (data as { prepay_id?: unknown } | null)?.prepay_id;
    if (typeof prepayId !== 'string' || !prepayId) throw toClientError({ code: 'BAD_RESPONSE', status: 502 });
    return { prepay_id: prepayId };
  }

  /** The order by out_trade_no; undefined when WeChat Pay has none (404 ORDER_NOT_EXIST). */
  async queryOrder(outTradeNo: string): Promise<Transaction | undefined> {
    const url = `${PAY_BY_OUT_TRADE_NO}/${orderSegment(outTradeNo)}?mchid=${encodeURIComponent(this.#options.mchid)}`;
    try {
      const data = await this.#send(API.order, 'GET', url, undefined, true, false, payError);
      if (!data || typeof data !== 'object') throw toClientError({ code: 'BAD_RESPONSE', status: 502 });
      return data as Transaction;
    } catch (err) {
      if (err instanceof MemberCardError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Closes an unpaid order (204). Closing a closed one again changes nothing, so it is repeatable. */
  async closeOrder(outTradeNo: string): Promise<void> {
    const url = `${PAY_BY_OUT_TRADE_NO}/${orderSegment(outTradeNo)}/close`;
    await this.#send(API.close, 'POST', url, { mchid: this.#options.mchid }, true, false, payError);
  }

  /**
   * One call, with retries for a repeatable one: after a timeout, a reset or a 5xx, and once
   * after an answer that failed verification (a signature probe, say: its outcome is unknown).
   * `onCode`: the call is on one card code, so a 400 naming the code means CARD_NOT_FOUND.
   */
  async #send(
    api: string,
    method: string,
    url: string,
    data: unknown,
    repeatable: boolean,
    onCode = false,
    // Payments read WeChat Pay's answers their own way (pay-errors.ts); undefined: the card mapping.
    mapFailure?: (failure: UpstreamFailure) => MemberCardError | undefined,
  ): Promise<unknown> {
    const attempts = repeatable ? 1 + this.#options.retries : 1;
    let signatureRetried = false;
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const headers = { 'Wechatpay-Serial': this.#options.requestSerial };
        const response = await this.#http.request<unknown>({ url, method, data, headers });
        this.#options.onAttempt?.(`${method} ${api}`, 'ok', (performance.now() - started) / 1000);
        return response.data;
      } catch (err) {
        const failure = describeFailure(err);
        this.#options.onAttempt?.(`${method} ${api}`, outcomeOf(failure), (performance.now() - started) / 1000);
        const signature = isSignatureFailure(failure) && !signatureRetried;
        if (signature) signatureRetried = true;
        const retry = attempt < attempts && (isTransient(failure) || signature);
        this.#options.log('warn', 'wechatpay request failed', {
          method,
          // The path template, not the code: a card code identifies a person.
          path: url.replace(/\/codes\/[^/]+/, '/codes/{code}'),
          status: failure.status ?? 0,
          code: failure.code,
          requestId: failure.requestId ?? '',
          attempt,
          retry,
        });
        if (failure.names === 'card_id') {
          // The card template is not this merchant's: every call will fail until the setting is fixed.
          this.#options.log('error', 'WeChat Pay does not know our card_id: check the cardId option', {
            requestId: failure.requestId ?? '',
          });
        }
        if (!retry) throw mapFailure?.(failure) ?? toClientError(failure, undefined, onCode);
        // Short exponential back-off with jitter: 100 ms, 200 ms, … so a burst does not hammer.
        await sleep(100 * 2 ** (attempt - 1) * (0.5 + Math.random()));
      }
    }
  }
}
