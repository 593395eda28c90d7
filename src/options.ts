import type { KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import { OptionsError } from './errors.js';
import type { Registry } from 'prom-client';
import { defaultLog, toLog, type Log, type LogOption } from './log.js';
import type { RateLimit } from './rate-limit.js';
import { defaultsOf, schemaOf } from './options/compile.js';
import type { Resolved } from './options/declare.js';
import { MEMBER_CARD_OPTIONS } from './options/member-card.js';
import { validateOptions } from './options/validate.js';
import type { StoreSpec } from './store/options.js';
import type { CardStore, UserIdentity } from './store/types.js';
import { loadPlatformKey, loadPrivateKey, type KeyInput, type PlatformKey } from './wechatpay/keys.js';

// memberCard()'s options: the types a host writes, the type of `cards.options`, and how the one
// becomes the other. What each option means, its check and its default are declared once, in
// options/member-card.ts (the README table is made from there); `satisfies` ties the two.

/** How the module reaches WeChat Pay APIv3 (the merchant's credentials). */
export interface WechatpayOptions {
  mchid: string;
  serial: string;
  privateKey: KeyInput;
  publicKeyId?: string;
  publicKey?: KeyInput;
  certs?: Record<string, KeyInput>;
  apiv3Key: string;
  baseURL?: string;
  timeoutMs?: number;
  /** @deprecated The older name of `timeoutMs`. */
  timeout?: number;
  retries?: number;
}

/** Whatever a self-service user may change on their own card. */
export interface SelfServiceOptions {
  backgrounds?: string[];
}

/** The parameters handed to wx.navigateToMiniProgram to open a card. */
export interface OpenCardOptions {
  appId?: string;
  path?: string;
  envVersion?: 'release' | 'trial' | 'develop';
  activateType?: string;
  jumpUrl?: string;
  outerStrTtlMs?: number;
  /** @deprecated The older name of `outerStrTtlMs`. */
  outerStrTtl?: number;
}

/** The read cache of cards: fresh for ttlMs, then stale-while-revalidate, and stale-if-error up to maxStaleMs. */
export interface CacheOptions {
  ttlMs?: number;
  /** @deprecated The older name of `ttlMs`. */
  ttl?: number;
  coherentTtlMs?: number;
  staleWhileRevalidateMs?: number;
  maxStaleMs?: number;
  max?: number;
}

/** Merchant operations (cards.operations): lock lease and wait. */
export interface OperationsOptions {
  lockTtlMs?: number;
  lockWaitMs?: number;
  sweepAfterMs?: number;
  sweepEveryMs?: number;
}

/** A bonus tier: paying at least `from` fen credits `extra` fen more (the highest tier reached counts). */
export interface TopupBonus {
  from: number;
  extra: number;
}

/** Reporting paid top-ups to 小程序发货信息管理 as virtual-goods deliveries (off unless accessToken is given). */
export interface TopupShippingOptions {
  /** The mini-program's access token (e.g. from getStableAccessToken); turns the report on. */
  accessToken?: () => string | Promise<string>;
  /** What the report says was delivered; default: the order's description. */
  itemDesc?: string;
  baseURL?: string;
}

/** Top-ups: stored value bought with WeChat Pay in the mini-program (src/topup/). */
export interface TopupOptions {
  /** The mini-program's AppID: the JSAPI order's appid, under which the session openid is the payer. */
  appid?: string;
  /** Public https URL of `{prefix}/pay-notify`, sent as each order's notify_url. */
  notifyUrl?: string;
  amounts?: number[];
  min?: number;
  max?: number;
  bonuses?: TopupBonus[];
  description?: string;
  reuseWindowMs?: number;
  expireMs?: number;
  reconcileAfterMs?: number;
  retryMs?: number;
  shipping?: TopupShippingOptions;
}

/** The brand's face: what the card template cannot say. */
export interface BrandOptions {
  color?: string;
  templateTtlMs?: number;
}

/** The member code shown at the till (GET /code). */
export interface MemberCodeOptions {
  rotate?: boolean;
  ttlMs?: number;
  burst?: number;
  perMinute?: number;
}

export type IdentityResolver = (
  ctx: Context,
) => UserIdentity | undefined | null | Promise<UserIdentity | undefined | null>;
/**
 * The merchant's own lookup of a user's card code. `ctx` is the request being served, or
 * undefined when merchant operations look a user up outside any request.
 */
export type CodeResolver = (
  user: UserIdentity,
  ctx: Context | undefined,
) =>
  | string
  | { code: string; openid?: string }
  | undefined
  | null
  | Promise<string | { code: string; openid?: string } | undefined | null>;
export type AdminAuthorizer = (ctx: Context) => boolean | Promise<boolean>;

/** memberCard()'s options; each one's meaning and default are in the README's options table. */
export interface MemberCardOptions {
  cardId: string;
  appid: string;
  wechatpay: WechatpayOptions;
  store?: StoreSpec<CardStore>;
  identity?: IdentityResolver;
  resolveCode?: CodeResolver;
  selfService?: SelfServiceOptions;
  prefix?: string;
  openCard?: OpenCardOptions;
  bodyLimit?: string | number;
  cache?: CacheOptions;
  log?: LogOption;
  metrics?: Registry;
  authorizeAdmin?: AdminAuthorizer;
  operations?: OperationsOptions;
  topup?: TopupOptions;
  brand?: BrandOptions;
  memberCode?: MemberCodeOptions;
  rateLimit?: CardRateLimits;
  /** The upstream budget: card and template reads per second, all instances together (0: none). */
  upstream?: { perSecond?: number; burst?: number };
}

/** GET /open per user, and failed admin attempts per client address (src/rate-limit.ts). */
export interface CardRateLimits {
  open?: Partial<RateLimit>;
  adminFailures?: Partial<RateLimit>;
}

type Checked = Resolved<MemberCardOptions, typeof MEMBER_CARD_OPTIONS>;

/** Key material and what only names it: loaded once for the client and the verifier, then kept out of sight. */
type KeyOption = 'privateKey' | 'publicKeyId' | 'publicKey' | 'certs' | 'apiv3Key';

/**
 * What `cards.options` holds: every option with its default filled in and its older name gone,
 * and no key material: WeChat Pay's platform keys are named by `wechatpay.platformSerials` only.
 */
export type ResolvedMemberCardOptions = Omit<Checked, 'wechatpay' | 'log'> & {
  /** A pino-style logger given is adapted once, when the options are checked (log.ts toLog). */
  log: Log;
  wechatpay: Omit<Checked['wechatpay'], KeyOption> & {
    /** The Wechatpay-Serial values trusted: the public key id and the platform certificate serials. */
    platformSerials: string[];
  };
};

/** The loaded keys, for the WeChat Pay client and the notification verifier only. */
export interface MemberCardKeys {
  privateKey: KeyObject;
  /** Trusted platform keys by Wechatpay-Serial. */
  certs: Record<string, KeyObject>;
  /** Sent as Wechatpay-Serial on every request: the public key id, else the newest certificate's serial. */
  requestSerial: string;
  apiv3Key: string;
}

const PUBLIC_KEY_ID = /^PUB_KEY_ID_/;

/**
 * The Wechatpay-Serial our requests carry. With a public key, its id: during the move from
 * certificates WeChat Pay then signs answers with that key (doc/v3/merchant/4012154180), and a
 * merchant configured with the public key alone keeps working. Otherwise the serial of the newest
 * trusted certificate (latest notBefore; the last given wins a tie), as the official SDKs do.
 */
function requestSerialOf(publicKeyId: string | undefined, platform: Map<string, PlatformKey>): string {
  if (publicKeyId) return publicKeyId;
  const serials = [...platform.keys()];
  const byId = serials.find((s) => PUBLIC_KEY_ID.test(s));
  if (byId) return byId;
  let newest = serials[0] ?? '';
  for (const serial of serials) {
    if ((platform.get(serial)?.validFrom ?? 0) >= (platform.get(newest)?.validFrom ?? 0)) newest = serial;
  }
  return newest;
}

const FACTORY = 'memberCard()';
const schema = schemaOf(MEMBER_CARD_OPTIONS);

/** Validates memberCard()'s options once and loads its keys, so a bad key file fails at start. */
export function resolveOptions(given: MemberCardOptions): { options: ResolvedMemberCardOptions; keys: MemberCardKeys } {
  const checked = validateOptions<Checked>(FACTORY, MEMBER_CARD_OPTIONS, schema, given);
  const { privateKey, publicKeyId, publicKey, certs, apiv3Key, ...wechatpay } = checked.wechatpay;
  const at = (option: string) => ({ factory: FACTORY, option: `wechatpay.${option}` });
  const platform = new Map<string, PlatformKey>();
  for (const [serial, key] of Object.entries(certs ?? {}))
    platform.set(serial, loadPlatformKey(key, at(`certs.${serial}`)));
  if (publicKeyId && publicKey) platform.set(publicKeyId, loadPlatformKey(publicKey, at('publicKey')));
  if (platform.has(wechatpay.serial))
    throw new OptionsError("must hold WeChat Pay's platform keys, not the merchant serial", at('certs'));
  const keys: MemberCardKeys = {
    privateKey: loadPrivateKey(privateKey, at('privateKey')),
    certs: Object.fromEntries([...platform].map(([serial, p]) => [serial, p.key])),
    requestSerial: requestSerialOf(publicKeyId && publicKey ? publicKeyId : undefined, platform),
    apiv3Key,
  };
  const log = toLog(checked.log) ?? defaultLog;
  return {
    options: { ...checked, log, wechatpay: { ...wechatpay, platformSerials: Object.keys(keys.certs) } },
    keys,
  };
}

const defaults = defaultsOf(MEMBER_CARD_OPTIONS);

/**
 * memberCard()'s defaults, read from its declaration and nested as the options are:
 * `DEFAULTS.wechatpay.timeoutMs`, `DEFAULTS.cache.ttlMs`, … The flat names of 0.1 read the same
 * values and are deprecated.
 */
export const DEFAULTS = {
  ...defaults,
  /** @deprecated DEFAULTS.wechatpay.baseURL */
  baseURL: defaults.wechatpay.baseURL,
  /** @deprecated DEFAULTS.wechatpay.timeoutMs */
  timeout: defaults.wechatpay.timeoutMs,
  /** @deprecated DEFAULTS.wechatpay.retries */
  retries: defaults.wechatpay.retries,
  /** @deprecated DEFAULTS.openCard.appId */
  openCardAppId: defaults.openCard.appId,
  /** @deprecated DEFAULTS.openCard.path */
  openCardPath: defaults.openCard.path,
  /** @deprecated DEFAULTS.openCard.envVersion */
  envVersion: defaults.openCard.envVersion,
  /** @deprecated DEFAULTS.openCard.outerStrTtlMs */
  outerStrTtl: defaults.openCard.outerStrTtlMs,
  /** @deprecated DEFAULTS.cache.ttlMs */
  cacheTtl: defaults.cache.ttlMs,
  /** @deprecated DEFAULTS.cache.max */
  cacheMax: defaults.cache.max,
  /** @deprecated DEFAULTS.operations.lockTtlMs */
  lockTtlMs: defaults.operations.lockTtlMs,
  /** @deprecated DEFAULTS.operations.lockWaitMs */
  lockWaitMs: defaults.operations.lockWaitMs,
} as const;
