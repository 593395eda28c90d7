import type { KeyObject } from 'node:crypto';
import { KeyObject as KeyObjectClass } from 'node:crypto';
import Joi from 'joi';
import type { Context } from 'koa';
import { OptionsError } from './errors.js';
import { defaultIdentity } from './identity.js';
import { defaultLog, type Log } from './log.js';
import type { CardStore, UserIdentity } from './store/types.js';
import { isStoreSpec, type StoreSpec } from './store/options.js';
import { loadPrivateKey, loadPublicKey, type KeyInput } from './wechatpay/keys.js';

/** How the module reaches WeChat Pay APIv3 (the merchant's credentials). */
export interface WechatpayOptions {
  /** 商户号. */
  mchid: string;
  /** Serial number of the merchant API certificate. */
  serial: string;
  /** Merchant API private key: PEM text, Buffer, KeyObject, file path or file:// URL. */
  privateKey: KeyInput;
  /** Platform public key id (PUB_KEY_ID_…), with `publicKey`. */
  publicKeyId?: string;
  /** Platform public key (PEM text, Buffer, KeyObject, path), with `publicKeyId`. */
  publicKey?: KeyInput;
  /** Platform certificates or keys by serial / key id; may hold several during a rotation. */
  certs?: Record<string, KeyInput>;
  /** APIv3 key: 32 bytes, decrypts notifications. */
  apiv3Key: string;
  /** Default https://api.mch.weixin.qq.com/ */
  baseURL?: string;
  /** Per attempt, ms. Default 5000. */
  timeout?: number;
  /** Extra attempts after a timeout / 5xx / reset, only for calls safe to repeat. Default 2. */
  retries?: number;
}

/** Whatever a self-service user may change on their own card. */
export interface SelfServiceOptions {
  /** Background picture URLs the user may pick from (each one WeChat Pay's uploaded image URL). */
  backgrounds?: string[];
}

/** The parameters handed to wx.navigateToMiniProgram to open a card. */
export interface OpenCardOptions {
  /** WeChat's card-opening mini-program. Default wxeb490c6f9b154ef9. */
  appId?: string;
  /** Default pages/card_open/card_open. */
  path?: string;
  /** Default release. */
  envVersion?: 'release' | 'trial' | 'develop';
  /** Passed on as extraData.activate_type when set. */
  activateType?: string;
  /** Passed on as extraData.jump_url when set. */
  jumpUrl?: string;
  /** How long an issued outer_str stays usable, ms. Default 30 minutes. */
  outerStrTtl?: number;
}

export type IdentityResolver = (
  ctx: Context,
) => UserIdentity | undefined | null | Promise<UserIdentity | undefined | null>;
export type CodeResolver = (
  user: UserIdentity,
  ctx: Context,
) =>
  | string
  | { code: string; openid?: string }
  | undefined
  | null
  | Promise<string | { code: string; openid?: string } | undefined | null>;

export interface MemberCardOptions {
  /** The member card template id (card_id). */
  cardId: string;
  /** The 服务号 (Official Account) AppID the card belongs to. */
  appid: string;
  wechatpay: WechatpayOptions;
  /**
   * A store URL (memory:, sqlite:…, postgres://…, redis://…), engine options ({ engine: 'postgres', pool }, …)
   * or a store object with the CardStore methods. Default sqlite:./data/membercard.db
   */
  store?: StoreSpec<CardStore>;
  /** Who is asking. Default: ctx.state.user, then ctx.state, then ctx.session. */
  identity?: IdentityResolver;
  /** Last resort to find a user's code, e.g. from an existing membership database. */
  resolveCode?: CodeResolver;
  /** What users may edit themselves. Default: nothing. */
  selfService?: SelfServiceOptions;
  /** Router prefix. Default /member-card */
  prefix?: string;
  openCard?: OpenCardOptions;
  /** Largest JSON body a user may send. Default 16kb. */
  bodyLimit?: string | number;
  /** Per-instance card read cache. Default { ttl: 10000, max: 10000 }; ttl 0 turns it off. */
  cache?: { ttl?: number; max?: number };
  /** Where warnings and errors go. Default: one JSON line each on stderr. */
  log?: Log;
  /**
   * Turns on the back-office routes ({prefix}/admin/…) and decides who may use them: resolve true
   * to allow, anything else answers 403 FORBIDDEN. Default: no admin routes.
   */
  authorizeAdmin?: AdminAuthorizer;
  /** Merchant operations (cards.operations): lock lease and wait. */
  operations?: OperationsOptions;
}

export type AdminAuthorizer = (ctx: Context) => boolean | Promise<boolean>;

export interface OperationsOptions {
  /** Lease of a per-card lock in the store, ms; renewed while held, so it bounds the wait after a crash. Default 15000. */
  lockTtlMs?: number;
  /** How long a change waits for a card another change holds, ms, before 503 CARD_BUSY. Default 10000. */
  lockWaitMs?: number;
}

/** The options after validation: defaults filled in, keys loaded. */
export interface ResolvedOptions {
  cardId: string;
  appid: string;
  wechatpay: {
    mchid: string;
    serial: string;
    privateKey: KeyObject;
    certs: Record<string, KeyObject>;
    apiv3Key: string;
    baseURL: string;
    timeout: number;
    retries: number;
  };
  store: StoreSpec<CardStore>;
  /** The host's resolver, or the default one. */
  identity: IdentityResolver;
  resolveCode: CodeResolver | undefined;
  selfService: { backgrounds: string[] };
  prefix: string;
  openCard: Required<Pick<OpenCardOptions, 'appId' | 'path' | 'envVersion' | 'outerStrTtl'>> &
    Pick<OpenCardOptions, 'activateType' | 'jumpUrl'>;
  bodyLimit: string | number;
  cache: { ttl: number; max: number };
  log: Log;
  authorizeAdmin: AdminAuthorizer | undefined;
  operations: Required<OperationsOptions>;
}

export const DEFAULTS = {
  baseURL: 'https://api.mch.weixin.qq.com/',
  timeout: 5000,
  retries: 2,
  store: 'sqlite:./data/membercard.db',
  prefix: '/member-card',
  openCardAppId: 'wxeb490c6f9b154ef9',
  openCardPath: 'pages/card_open/card_open',
  envVersion: 'release',
  outerStrTtl: 30 * 60 * 1000,
  bodyLimit: '16kb',
  cacheTtl: 10_000,
  cacheMax: 10_000,
  lockTtlMs: 15_000,
  lockWaitMs: 10_000,
} as const;

const id = (max: number) =>
  Joi.string()
    .pattern(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" or "-"')
    .max(max);
// Keys and stores are checked with custom() rather than Joi.object(): joi would clone them, and a
// KeyObject or a class instance with private fields does not survive a clone.
const keyInput = Joi.any()
  .custom((value: unknown, helpers) =>
    (typeof value === 'string' && value.length > 0) || Buffer.isBuffer(value) || value instanceof KeyObjectClass
      ? value
      : helpers.error('key.type'),
  )
  .messages({ 'key.type': 'must be PEM text, a Buffer, a KeyObject or a file path' });

/** A store URL, engine options or a store object (checked for its role when the store is made); for both factories. */
export const storeOption = Joi.any()
  .custom((value: unknown, helpers) => (isStoreSpec(value) ? value : helpers.error('store.type')))
  .messages({
    'store.type': 'must be a store URL (memory:, sqlite:…, postgres://…, redis://…), engine options or a store object',
  })
  .default(DEFAULTS.store);

const schema = Joi.object({
  cardId: id(64).required(),
  appid: id(32).required(),
  wechatpay: Joi.object({
    mchid: Joi.string()
      .pattern(/^[A-Za-z0-9]+$/, 'letters or digits')
      .max(32)
      .required(),
    serial: Joi.string()
      .pattern(/^[A-Za-z0-9_]+$/, 'letters, digits or "_"')
      .max(64)
      .required(),
    privateKey: keyInput.required(),
    publicKeyId: Joi.string().min(1).max(64),
    publicKey: keyInput,
    certs: Joi.object().pattern(Joi.string(), keyInput),
    apiv3Key: Joi.string()
      .custom((value: string, helpers) => (Buffer.byteLength(value) === 32 ? value : helpers.error('apiv3Key.length')))
      .messages({ 'apiv3Key.length': 'must be exactly 32 bytes' })
      .required(),
    baseURL: Joi.string()
      .uri({ scheme: ['http', 'https'] })
      .default(DEFAULTS.baseURL),
    timeout: Joi.number().integer().min(1).max(120_000).default(DEFAULTS.timeout),
    retries: Joi.number().integer().min(0).max(5).default(DEFAULTS.retries),
  })
    .and('publicKeyId', 'publicKey')
    .or('publicKeyId', 'certs')
    .messages({ 'object.missing': 'needs publicKeyId and publicKey, or certs, to verify WeChat Pay' })
    .required(),
  store: storeOption,
  identity: Joi.function(),
  resolveCode: Joi.function(),
  selfService: Joi.object({
    backgrounds: Joi.array()
      .items(
        Joi.string()
          .uri({ scheme: ['https'] })
          .max(128),
      )
      .unique()
      .default([]),
  }).default({ backgrounds: [] }),
  prefix: Joi.string()
    .pattern(/^\/[A-Za-z0-9/_-]*$/, 'a path like /member-card')
    .default(DEFAULTS.prefix),
  openCard: Joi.object({
    appId: id(32).default(DEFAULTS.openCardAppId),
    path: Joi.string().max(256).default(DEFAULTS.openCardPath),
    envVersion: Joi.string().valid('release', 'trial', 'develop').default(DEFAULTS.envVersion),
    activateType: Joi.string().max(32),
    jumpUrl: Joi.string()
      .uri({ scheme: ['https'] })
      .max(256),
    outerStrTtl: Joi.number().integer().min(1000).default(DEFAULTS.outerStrTtl),
  }).default(),
  bodyLimit: Joi.alternatives()
    .try(Joi.string().pattern(/^\d+\s*(b|kb|mb)?$/i), Joi.number().integer().min(1))
    .default(DEFAULTS.bodyLimit),
  cache: Joi.object({
    ttl: Joi.number()
      .integer()
      .min(0)
      .max(24 * 3600 * 1000)
      .default(DEFAULTS.cacheTtl),
    max: Joi.number().integer().min(1).max(10_000_000).default(DEFAULTS.cacheMax),
  }).default(),
  log: Joi.function().default(() => defaultLog),
  authorizeAdmin: Joi.function(),
  operations: Joi.object({
    lockTtlMs: Joi.number().integer().min(100).max(600_000).default(DEFAULTS.lockTtlMs),
    lockWaitMs: Joi.number().integer().min(0).max(600_000).default(DEFAULTS.lockWaitMs),
  }).default(),
});

/** Validates with joi once, at creation; the error names the option and what is wrong with it. */
export function validateOptions<T>(name: string, joiSchema: Joi.ObjectSchema, options: unknown): T {
  if (!options || typeof options !== 'object') throw new OptionsError(`${name}: options must be an object`);
  const { error, value } = joiSchema.validate(options, { abortEarly: true, errors: { label: false } });
  if (error) {
    const detail = error.details[0];
    const path = detail?.path.join('.') || '(options)';
    throw new OptionsError(`${name}: option "${path}" ${detail?.message ?? error.message}`);
  }
  return value as T;
}

export function resolveOptions(options: MemberCardOptions): ResolvedOptions {
  const value = validateOptions<
    MemberCardOptions & { wechatpay: Required<Pick<WechatpayOptions, 'baseURL' | 'timeout' | 'retries'>> }
  >('memberCard()', schema, options);
  const wp = value.wechatpay;
  const privateKey = loadPrivateKey(wp.privateKey, 'wechatpay.privateKey');
  const certs: Record<string, KeyObject> = {};
  for (const [serial, key] of Object.entries(wp.certs ?? {}))
    certs[serial] = loadPublicKey(key, `wechatpay.certs.${serial}`);
  if (wp.publicKeyId && wp.publicKey) certs[wp.publicKeyId] = loadPublicKey(wp.publicKey, 'wechatpay.publicKey');
  if (Object.prototype.hasOwnProperty.call(certs, wp.serial)) {
    throw new OptionsError(
      'memberCard(): option "wechatpay.certs" must hold WeChat Pay\'s platform keys, not the merchant serial',
    );
  }
  return {
    cardId: value.cardId,
    appid: value.appid,
    wechatpay: {
      mchid: wp.mchid,
      serial: wp.serial,
      privateKey,
      certs,
      apiv3Key: wp.apiv3Key,
      baseURL: wp.baseURL.endsWith('/') ? wp.baseURL : `${wp.baseURL}/`,
      timeout: wp.timeout,
      retries: wp.retries,
    },
    store: value.store ?? DEFAULTS.store,
    identity: value.identity ?? defaultIdentity,
    resolveCode: value.resolveCode,
    selfService: { backgrounds: value.selfService?.backgrounds ?? [] },
    prefix: value.prefix === '/' ? '' : (value.prefix ?? DEFAULTS.prefix).replace(/\/+$/, ''),
    openCard: value.openCard as ResolvedOptions['openCard'],
    bodyLimit: value.bodyLimit ?? DEFAULTS.bodyLimit,
    cache: value.cache as ResolvedOptions['cache'],
    log: value.log ?? defaultLog,
    authorizeAdmin: value.authorizeAdmin,
    operations: (value.operations as Required<OperationsOptions> | undefined) ?? {
      lockTtlMs: DEFAULTS.lockTtlMs,
      lockWaitMs: DEFAULTS.lockWaitMs,
    },
  };
}
