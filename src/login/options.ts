import Joi from 'joi';
import { defaultLog, toLog, type Log, type LogOption } from '../log.js';
import { schemaOf } from '../options/compile.js';
import type { Declaration, Resolved } from '../options/declare.js';
import { baseUrl, DEFAULT_STORE, id, logOption, ms, registryOption, storeOption } from '../options/schemas.js';
import type { Registry } from 'prom-client';
import { validateOptions } from '../options/validate.js';
import type { StoreSpec } from '../store/options.js';
import type { LoginStore } from '../store/types.js';
import { limitOptions } from '../options/limits.js';
import type { RateLimit } from '../rate-limit.js';

const DAY = 24 * 3600 * 1000;

/** wechatLogin()'s options; each one's meaning and default are in the README's table. */
export interface WechatLoginOptions {
  appid: string;
  secret: string;
  store?: StoreSpec<LoginStore>;
  baseURL?: string;
  sessionTtlMs?: number;
  /** @deprecated The older name of `sessionTtlMs`, in seconds. */
  sessionTtl?: number;
  timeoutMs?: number;
  /** @deprecated The older name of `timeoutMs`. */
  timeout?: number;
  sessionCacheTtlMs?: number;
  /** @deprecated The older name of `sessionCacheTtlMs`. */
  sessionCacheTtl?: number;
  prefix?: string;
  log?: LogOption;
  metrics?: Registry;
  rateLimit?: LoginRateLimits;
}

/** Login attempts allowed before jscode2session is called: per client address, and in all for the appid. */
export interface LoginRateLimits {
  perClient?: Partial<RateLimit>;
  total?: Partial<RateLimit>;
}

/** wechatLogin()'s options: each one's check, default and doc line (the README table is made from it). */
export const WECHAT_LOGIN_OPTIONS = {
  appid: { schema: id(32), required: true, doc: { en: 'the mini-program AppID', zh: '小程序 AppID' } },
  secret: {
    schema: Joi.string().min(1).max(128),
    required: true,
    doc: { en: 'the mini-program AppSecret', zh: '小程序 AppSecret' },
  },
  store: {
    schema: storeOption,
    default: DEFAULT_STORE,
    doc: {
      en: 'a store URL, engine options, or an object with the session methods: share the member-card one',
      zh: '存储 URL、引擎配置，或带会话方法的对象：与会员卡共用同一个',
    },
  },
  baseURL: {
    schema: baseUrl,
    default: 'https://api.weixin.qq.com/',
    doc: {
      en: 'where `jscode2session` is called: WeChat, a proxy or the sandbox',
      zh: '`jscode2session` 的地址：微信、代理或沙箱',
    },
  },
  sessionTtlMs: {
    schema: ms(60_000, 365 * DAY),
    default: 7 * DAY,
    doc: {
      en: 'session lifetime; the login answer gives it in seconds as `expires_in`',
      zh: '会话有效期；登录应答中的 `expires_in` 是以秒计的同一值',
    },
  },
  sessionTtl: { aliasOf: 'sessionTtlMs', seconds: true },
  timeoutMs: {
    schema: ms(1, 60_000),
    default: 5000,
    doc: { en: '`jscode2session` timeout', zh: '`jscode2session` 超时' },
  },
  timeout: { aliasOf: 'timeoutMs' },
  sessionCacheTtlMs: {
    schema: ms(0, 60_000),
    default: 1000,
    doc: {
      en:
        'how long this instance reuses a session it read from the store (0: every request reads it); ' +
        'a logout takes effect at once on its instance, within this time on the others',
      zh:
        '单个实例复用从存储读到的会话的时长（0：每个请求都读存储）；' +
        '登出在处理它的实例上立即生效，在其他实例上于此时长内生效',
    },
  },
  sessionCacheTtl: { aliasOf: 'sessionCacheTtlMs' },
  prefix: {
    schema: Joi.string().pattern(/^(\/[A-Za-z0-9/_-]*)?$/, 'empty or a path like /api'),
    default: '',
    doc: { en: 'router prefix of `/login` and `/logout`', zh: '`/login` 与 `/logout` 的路由前缀' },
  },
  log: {
    schema: logOption,
    default: defaultLog,
    defaultDoc: { en: 'JSON lines on stderr', zh: 'stderr 上的 JSON 行' },
    doc: {
      en: '`(level, message, fields) => void`, or a pino-style logger (`logger.info(fields, message)`)',
      zh: '`(level, message, fields) => void`，或 pino 风格的 logger（`logger.info(fields, message)`）',
    },
  },
  metrics: {
    schema: registryOption,
    defaultDoc: { en: 'none', zh: '无' },
    doc: {
      en:
        'a prom-client `Registry`: refused logins are counted in `membercard_rate_limited_total` ' +
        '([metrics](docs/metrics.md))',
      zh: 'prom-client `Registry`：被限流拒绝的登录计入 `membercard_rate_limited_total`（见[指标](docs/metrics.zh-CN.md)）',
    },
  },
  rateLimit: {
    options: {
      perClient: limitOptions(
        { burst: 20, perMinute: 20 },
        {
          en: 'login attempts one client address may make at once (by `ctx.ip`: see Security)',
          zh: '同一客户端地址可一次发起的登录次数（按 `ctx.ip`，见“安全”一节）',
        },
        { en: '…and per minute after that; `0` turns this limit off', zh: '……之后每分钟的次数；`0` 关闭此限制' },
      ),
      total: limitOptions(
        { burst: 200, perMinute: 3000 },
        {
          en: 'login attempts for this appid at once, all clients and instances together',
          zh: '此 appid 一次可发起的登录次数，所有客户端与实例合计',
        },
        {
          en: '…and per minute after that; `0` turns this limit off',
          zh: '……之后每分钟的次数；`0` 关闭此限制',
        },
      ),
    },
  },
} satisfies Declaration<WechatLoginOptions>;

type Checked = Resolved<WechatLoginOptions, typeof WECHAT_LOGIN_OPTIONS>;

/** The options in use; a pino-style logger given is adapted once, here (log.ts toLog). */
export type ResolvedWechatLoginOptions = Omit<Checked, 'log'> & { log: Log };

const schema = schemaOf(WECHAT_LOGIN_OPTIONS);

/** Validates wechatLogin()'s options once, at creation. */
export function resolveLoginOptions(given: WechatLoginOptions): ResolvedWechatLoginOptions {
  const checked = validateOptions<Checked>('wechatLogin()', WECHAT_LOGIN_OPTIONS, schema, given);
  return { ...checked, log: toLog(checked.log) ?? defaultLog };
}
