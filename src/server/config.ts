import { OptionsError } from '../errors.js';
import type { WECHAT_LOGIN_OPTIONS } from '../login/options.js';
import type { Doc, OptionPath } from '../options/declare.js';
import type { MEMBER_CARD_OPTIONS } from '../options/member-card.js';
import { RETENTION } from '../store/retention.js';

/** An option of memberCard() or wechatLogin() that a variable is passed to. */
export type Feeds =
  | { factory: 'memberCard()'; option: OptionPath<typeof MEMBER_CARD_OPTIONS> }
  | { factory: 'wechatLogin()'; option: OptionPath<typeof WECHAT_LOGIN_OPTIONS> };

export interface EnvSpec extends Doc {
  /** Needed when WECHATPAY_MCHID is set (without it, serve runs the embedded sandbox). */
  required?: true;
  /** The options it is passed to: an error about one of them names this variable, and its default is theirs. */
  feeds?: readonly Feeds[];
  /** serve's own default, for a variable that feeds no option. */
  default?: string;
  /** How the default reads in the docs when it depends on something. */
  defaultDoc?: Doc;
}

const card = (option: OptionPath<typeof MEMBER_CARD_OPTIONS>): Feeds => ({ factory: 'memberCard()', option });
const login = (option: OptionPath<typeof WECHAT_LOGIN_OPTIONS>): Feeds => ({ factory: 'wechatLogin()', option });
const KEY_PAIR = { en: 'this pair, the certificate pair, or both', zh: '这一对、平台证书那一对，或两者都给' };
const CERT_PAIR = { en: 'or the public key pair, or both', zh: '或公钥那一对，或两者都给' };

/** Every environment variable `serve` reads, with its doc line (the README tables are made from it). */
export const ENV = {
  WECHATPAY_MCHID: {
    feeds: [card('wechatpay.mchid')],
    defaultDoc: { en: 'unset: the embedded sandbox', zh: '不设置：使用内置沙箱' },
    en: '商户号. Unset: serve starts the embedded sandbox and points everything at it',
    zh: '商户号。不设置时 serve 启动内置沙箱并全部指向它',
  },
  WECHATPAY_SERIAL: {
    required: true,
    feeds: [card('wechatpay.serial')],
    en: 'serial of the merchant API certificate',
    zh: '商户 API 证书序列号',
  },
  WECHATPAY_PRIVATE_KEY: {
    required: true,
    feeds: [card('wechatpay.privateKey')],
    en: 'path of the merchant API private key (PEM)',
    zh: '商户 API 私钥文件路径（PEM）',
  },
  WECHATPAY_PUBLIC_KEY_ID: {
    feeds: [card('wechatpay.publicKeyId')],
    defaultDoc: KEY_PAIR,
    en:
      'WeChat Pay platform public key id, `PUB_KEY_ID_…`; sent as `Wechatpay-Serial`, so answers are signed ' +
      'with the public key. Give the certificate pair too during the move from certificates (7-day gray release)',
    zh:
      '微信支付公钥 id，`PUB_KEY_ID_…`；作为 `Wechatpay-Serial` 发送，应答即以公钥签名。' +
      '从平台证书迁移期间（7 天灰度）同时给出平台证书那一对',
  },
  WECHATPAY_PUBLIC_KEY: {
    feeds: [card('wechatpay.publicKey')],
    defaultDoc: KEY_PAIR,
    en: 'path of the WeChat Pay platform public key (PEM)',
    zh: '微信支付公钥文件路径（PEM）',
  },
  WECHATPAY_PLATFORM_CERT_SERIAL: {
    defaultDoc: CERT_PAIR,
    en: 'platform certificate serials, comma-separated (several during a rotation)…',
    zh: '平台证书序列号，逗号分隔（轮换期间可有多个）……',
  },
  WECHATPAY_PLATFORM_CERT: {
    feeds: [card('wechatpay.certs')],
    defaultDoc: CERT_PAIR,
    en: '…and the paths of those certificates (PEM), comma-separated, in the same order',
    zh: '……以及这些证书的文件路径（PEM），逗号分隔，顺序一致',
  },
  WECHATPAY_APIV3_KEY: {
    required: true,
    feeds: [card('wechatpay.apiv3Key')],
    en: 'APIv3 key (32 bytes)',
    zh: 'APIv3 密钥（32 字节）',
  },
  WECHATPAY_BASE_URL: {
    feeds: [card('wechatpay.baseURL')],
    en: 'WeChat Pay API base URL',
    zh: '微信支付 API 地址',
  },
  MEMBERCARD_CARD_ID: {
    required: true,
    feeds: [card('cardId')],
    en: 'the member card template id (`card_id`)',
    zh: '会员卡模板 id（`card_id`）',
  },
  MEMBERCARD_APPID: {
    required: true,
    feeds: [card('appid')],
    en: 'the 服务号 AppID the card belongs to',
    zh: '会员卡所属服务号 AppID',
  },
  WECHAT_MINIPROGRAM_APPID: {
    required: true,
    feeds: [login('appid'), card('topup.appid')],
    en: 'the mini-program AppID (for login, and the AppID top-ups are paid in)',
    zh: '小程序 AppID（用于登录，也是充值付款所在的 AppID）',
  },
  WECHAT_MINIPROGRAM_SECRET: {
    required: true,
    feeds: [login('secret')],
    en: 'the mini-program AppSecret (for login)',
    zh: '小程序 AppSecret（用于登录）',
  },
  WECHAT_API_BASE_URL: {
    feeds: [login('baseURL')],
    en: 'WeChat API base URL, for `jscode2session`',
    zh: '微信 API 地址，用于 `jscode2session`',
  },
  MEMBERCARD_STORE: {
    feeds: [card('store'), login('store')],
    en:
      'store URL: `sqlite:…`, `memory:`, `postgres://…`, `redis://…`, ' +
      '`redis+cluster://host:port,…` (docs/stores.md), shared by login and cards',
    zh:
      '存储 URL：`sqlite:…`、`memory:`、`postgres://…`、`redis://…`、' +
      '`redis+cluster://host:port,…`（docs/stores.zh-CN.md），登录与会员卡共用',
  },
  MEMBERCARD_BACKGROUNDS: {
    feeds: [card('selfService.backgrounds')],
    defaultDoc: { en: 'none; with the sandbox, three demo pictures', zh: '无；使用沙箱时为三张演示图片' },
    en: 'comma-separated background picture URLs users may pick',
    zh: '用户可选的背景图 URL，逗号分隔',
  },
  MEMBERCARD_CACHE_TTL: {
    feeds: [card('cache.ttlMs')],
    en: 'how long this instance reuses a card read, ms; 0 turns the read cache off',
    zh: '单个实例复用一次会员卡读取结果的时长（毫秒）；0 关闭读缓存',
  },
  MEMBERCARD_CACHE_MAX_STALE: {
    feeds: [card('cache.maxStaleMs')],
    defaultDoc: { en: '86400000 (24 h)', zh: '86400000（24 小时）' },
    en: 'while WeChat Pay is unavailable, how old a card read may be and still be answered (stale), ms; 0: never',
    zh: '微信支付不可用时，多久以内读取的会员卡仍可作为旧数据返回（毫秒）；0：从不',
  },
  MEMBERCARD_CACHE_STALE_WHILE_REVALIDATE: {
    feeds: [card('cache.staleWhileRevalidateMs')],
    defaultDoc: { en: '60000 (1 min)', zh: '60000（1 分钟）' },
    en:
      'after a card is no longer fresh, how long it is still answered at once while one background read ' +
      'refreshes it, ms; 0: never',
    zh: '会员卡不再新鲜后，仍立即返回并由一次后台读取刷新的时长（毫秒）；0：从不',
  },
  MEMBERCARD_CACHE_COHERENT_TTL: {
    feeds: [card('cache.coherentTtlMs')],
    defaultDoc: { en: '60000 (1 min)', zh: '60000（1 分钟）' },
    en: "how long a card read stays fresh while the store's cache bus (PostgreSQL, Redis) is live, ms",
    zh: '存储的缓存总线（PostgreSQL、Redis）在线时，一次会员卡读取保持新鲜的时长（毫秒）',
  },
  MEMBERCARD_UPSTREAM_PER_SECOND: {
    feeds: [card('upstream.perSecond')],
    defaultDoc: { en: '0 (no budget)', zh: '0（不限）' },
    en:
      'card and template reads sent to WeChat Pay per second by all instances together (shared through the ' +
      'store); over it a read is answered stale, else 429',
    zh: '所有实例合计每秒发往微信支付的读取数（经存储共享）；超出时返回旧数据，否则 429',
  },
  MEMBERCARD_UPSTREAM_BURST: {
    feeds: [card('upstream.burst')],
    defaultDoc: { en: '50', zh: '50' },
    en: 'how many of those reads may go at once',
    zh: '上述读取一次最多可发多少个',
  },
  MEMBERCARD_NOTIFY_URL: {
    en: 'public https URL of `POST /api/member-card/notify`; when set, registered with WeChat Pay at start',
    zh: '`POST /api/member-card/notify` 的公网 https 地址；设置后启动时向微信支付登记',
  },
  MEMBERCARD_ADMIN_TOKEN: {
    en:
      'turns on the back-office routes `/api/member-card/admin/…`; callers send it as `X-Admin-Token` ' +
      '(or `Authorization: Bearer`). At least 32 characters, not repetitive (`openssl rand -hex 32`)',
    zh:
      '开启后台管理接口 `/api/member-card/admin/…`；调用方以 `X-Admin-Token`' +
      '（或 `Authorization: Bearer`）发送。至少 32 个字符，且不能是简单重复（`openssl rand -hex 32`）',
  },
  MEMBERCARD_TOPUP_AMOUNTS: {
    feeds: [card('topup.amounts')],
    defaultDoc: {
      en: 'none: top-ups off; with the sandbox, `1000,5000,10000,20000`',
      zh: '无：不开启充值；使用沙箱时为 `1000,5000,10000,20000`',
    },
    en: 'comma-separated amounts users may pay, in fen; turns top-ups on (`POST /api/member-card/topup`)',
    zh: '用户可充值的金额（分），逗号分隔；给出即开启充值（`POST /api/member-card/topup`）',
  },
  MEMBERCARD_TOPUP_MIN: {
    feeds: [card('topup.min')],
    en: 'or any amount from this many fen…',
    zh: '或从这么多分……',
  },
  MEMBERCARD_TOPUP_MAX: {
    feeds: [card('topup.max')],
    en: '…up to this many (instead of `MEMBERCARD_TOPUP_AMOUNTS`)',
    zh: '……到这么多分之间的任意金额（代替 `MEMBERCARD_TOPUP_AMOUNTS`）',
  },
  MEMBERCARD_TOPUP_BONUSES: {
    feeds: [card('topup.bonuses')],
    defaultDoc: {
      en: 'none; with the sandbox, `10000:1000,20000:3000`',
      zh: '无；使用沙箱时为 `10000:1000,20000:3000`',
    },
    en: 'bonus tiers `from:extra,…` in fen: paying at least `from` credits `extra` more',
    zh: '赠送档位 `from:extra,…`（分）：支付不少于 `from` 时多充 `extra`',
  },
  MEMBERCARD_TOPUP_NOTIFY_URL: {
    feeds: [card('topup.notifyUrl')],
    defaultDoc: {
      en: 'required with top-ups; with the sandbox, this server’s own',
      zh: '开启充值时必填；使用沙箱时为本服务自己的地址',
    },
    en: 'public https URL of `POST /api/member-card/pay-notify`, sent as each order’s `notify_url`',
    zh: '`POST /api/member-card/pay-notify` 的公网 https 地址，作为每笔订单的 `notify_url`',
  },
  MEMBERCARD_TOPUP_RECONCILE_MS: {
    default: '30000',
    en:
      'how often this instance settles due top-ups (queries, closes, credits), ms, with ±20 % jitter; ' +
      'safe on several instances',
    zh: '本实例处理到期充值订单（查单、关单、入账）的间隔（毫秒），带 ±20% 抖动；多实例同时运行也安全',
  },
  MEMBERCARD_TOPUP_RECONCILE_AFTER_MS: {
    feeds: [card('topup.reconcileAfterMs')],
    en: 'an order with no payment notification this long after it was made is queried, ms',
    zh: '下单后这么久仍未收到支付通知的订单即向微信支付查询（毫秒）',
  },
  MEMBERCARD_TOPUP_RETRY_MS: {
    feeds: [card('topup.retryMs')],
    en: 'first wait before a failed top-up step is tried again, ms (doubles up to 1 h)',
    zh: '充值失败步骤首次重试前的等待（毫秒，每次翻倍，最长 1 小时）',
  },
  MEMBERCARD_TOPUP_SHIPPING: {
    defaultDoc: { en: 'off', zh: '关闭' },
    en:
      '`1`: report each credited top-up to 小程序发货信息管理 as a virtual-goods delivery, with an access token ' +
      'from `getStableAccessToken` (the mini-program AppID and secret)',
    zh: '`1`：每笔入账的充值都向小程序发货信息管理上报虚拟商品发货，access_token 由 `getStableAccessToken` 获取（小程序 AppID 与密钥）',
  },
  MEMBERCARD_SWEEP_MS: {
    feeds: [card('operations.sweepEveryMs')],
    en:
      'how often pending merchant changes and due top-ups are settled in the background, ms (one instance at ' +
      'a time); `0`: never',
    zh: '后台了结挂起的商户变更与到期充值订单的间隔（毫秒，同一时间只有一个实例执行）；`0`：不执行',
  },
  MEMBERCARD_SWEEP_AFTER_MS: {
    feeds: [card('operations.sweepAfterMs')],
    en: 'a merchant change pending this long is settled by the sweep (re-sent or reconciled from the card), ms',
    zh: '挂起这么久的商户变更由清理任务了结（重发或读卡核对），毫秒',
  },
  MEMBERCARD_RETAIN_NOTIFICATIONS: {
    default: String(RETENTION.notifications.default),
    en: `${RETENTION.notifications.en}; ms or a duration (\`30d\`, \`12h\`)`,
    zh: `${RETENTION.notifications.zh}；毫秒或时长（\`30d\`、\`12h\`）`,
  },
  MEMBERCARD_RETAIN_TOPUPS: {
    default: String(RETENTION.topups.default),
    en: RETENTION.topups.en,
    zh: RETENTION.topups.zh,
  },
  MEMBERCARD_RETAIN_JOURNAL: {
    default: String(RETENTION.journal.default),
    en: RETENTION.journal.en,
    zh: RETENTION.journal.zh,
  },
  MEMBERCARD_PRUNE_MS: {
    default: '600000',
    en:
      'how often this instance tries a retention pass (it deletes, in batches of 500, what outlived the ' +
      'retentions above; one instance at a time), ms',
    zh: '本实例尝试执行保留期清理的间隔（按每批 500 行删除超过上述保留期的记录；同一时间只有一个实例执行），毫秒',
  },
  PORT: { default: '3000', en: 'HTTP port', zh: 'HTTP 端口' },
  HOST: {
    defaultDoc: {
      en: '`127.0.0.1` with the sandbox, `0.0.0.0` otherwise',
      zh: '使用沙箱时为 `127.0.0.1`，否则为 `0.0.0.0`',
    },
    en: 'listen address',
    zh: '监听地址',
  },
  HTTP_HEADERS_TIMEOUT_MS: {
    default: '15000',
    en: 'how long a client may take to send the request headers, ms (a slow client is cut off, 408)',
    zh: '客户端发送请求头的最长时间（毫秒），超时断开（408）',
  },
  HTTP_REQUEST_TIMEOUT_MS: {
    default: '15000',
    en: 'how long a client may take to send a whole request, ms',
    zh: '客户端发送完整请求的最长时间（毫秒）',
  },
  HTTP_KEEP_ALIVE_TIMEOUT_MS: {
    default: '5000',
    en: 'how long an idle keep-alive connection stays open, ms',
    zh: '空闲的 keep-alive 连接保持的时长（毫秒）',
  },
  HTTP_MAX_CONNECTIONS: {
    default: '10000',
    en: 'most connections open at once; beyond it, new ones are closed at once',
    zh: '同时打开的最大连接数；超过后新连接会被立即关闭',
  },
  TRUST_PROXY: {
    en:
      '`1`: trust `X-Forwarded-*`, for instances behind a proxy that sets them (then the client address ' +
      'that rate limits count is the one in `X-Forwarded-For`)',
    zh: '`1`：信任 `X-Forwarded-*`，用于位于会设置它们的代理之后的实例（此时限流按 `X-Forwarded-For` 中的客户端地址计）',
  },
  LOGIN_CLIENT_BURST: {
    feeds: [login('rateLimit.perClient.burst')],
    en: 'login attempts one client address may make at once, before `jscode2session` is called',
    zh: '同一客户端地址一次可发起的登录次数（在调用 `jscode2session` 之前检查）',
  },
  LOGIN_CLIENT_PER_MINUTE: {
    feeds: [login('rateLimit.perClient.perMinute')],
    en: '…and per minute after that; `0` turns this limit off',
    zh: '……之后每分钟的次数；`0` 关闭此限制',
  },
  LOGIN_TOTAL_BURST: {
    feeds: [login('rateLimit.total.burst')],
    en: 'login attempts at once for the mini-program, all clients and instances together',
    zh: '小程序一次可发起的登录次数，所有客户端与实例合计',
  },
  LOGIN_TOTAL_PER_MINUTE: {
    feeds: [login('rateLimit.total.perMinute')],
    en: '…and per minute after that; `0` turns this limit off',
    zh: '……之后每分钟的次数；`0` 关闭此限制',
  },
  SANDBOX_PORT: {
    default: '3100',
    en: 'port of the embedded sandbox (0 picks a free one)',
    zh: '内置沙箱端口（0 表示任选空闲端口）',
  },
  SANDBOX_STATE: {
    default: './data/sandbox',
    en: "folder of the embedded sandbox's keys and state",
    zh: '内置沙箱的密钥与状态目录',
  },
} satisfies Record<string, EnvSpec>;

export type EnvName = keyof typeof ENV;
export type Env = Partial<Record<string, string | undefined>>;

function spec(name: EnvName): EnvSpec {
  return ENV[name];
}

const NAMES = Object.keys(ENV) as EnvName[];
const BY_OPTION = new Map<string, EnvName>(
  NAMES.flatMap((name) => (spec(name).feeds ?? []).map((f) => [`${f.factory} ${f.option}`, name] as const)),
);

/** The variable an option comes from; 'wechatpay.certs.X' of memberCard() → WECHATPAY_PLATFORM_CERT. */
export function envNameOf(factory: string, option: string): EnvName | undefined {
  for (let path = option; path; path = path.slice(0, Math.max(0, path.lastIndexOf('.')))) {
    const name = BY_OPTION.get(`${factory} ${path}`);
    if (name) return name;
  }
  return undefined;
}

const BY_KEY = ['WECHATPAY_PUBLIC_KEY_ID', 'WECHATPAY_PUBLIC_KEY'] as const;
const BY_CERT = ['WECHATPAY_PLATFORM_CERT_SERIAL', 'WECHATPAY_PLATFORM_CERT'] as const;

export function requireEnv(env: Env): void {
  const missing = NAMES.filter((name) => spec(name).required && !env[name]);
  // WeChat Pay is verified with its public key (PUB_KEY_ID_…), platform certificates (older
  // merchants), or both while it moves a merchant from one to the other: each pair complete.
  const keyGiven = BY_KEY.some((name) => env[name]);
  const certGiven = BY_CERT.some((name) => env[name]);
  if (keyGiven || !certGiven) missing.push(...BY_KEY.filter((name) => !env[name]));
  if (certGiven) missing.push(...BY_CERT.filter((name) => !env[name]));
  const [first, ...more] = missing;
  if (first) {
    const summary = ENV[first].en.split(';')[0];
    throw new OptionsError(
      `${first} is not set (${summary})${more.length ? `; also missing: ${more.join(', ')}` : ''}`,
    );
  }
  const serials = parseList(env.WECHATPAY_PLATFORM_CERT_SERIAL);
  const paths = parseList(env.WECHATPAY_PLATFORM_CERT);
  if (serials.length !== paths.length) {
    throw new OptionsError(
      `WECHATPAY_PLATFORM_CERT_SERIAL and WECHATPAY_PLATFORM_CERT must list as many entries, in the same order ` +
        `(got ${serials.length} serials and ${paths.length} paths)`,
    );
  }
}

/** The platform certificates of the environment: serial → path, from the two comma-separated lists. */
export function platformCertificates(env: Env): Record<string, string> {
  const paths = parseList(env.WECHATPAY_PLATFORM_CERT);
  return Object.fromEntries(parseList(env.WECHATPAY_PLATFORM_CERT_SERIAL).map((serial, i) => [serial, paths[i] ?? '']));
}

/** An OptionsError about an option serve passed on, said again under the variable it came from. */
export function renameOptionError(err: unknown): unknown {
  if (!(err instanceof OptionsError) || !err.factory || !err.option) return err;
  const name = envNameOf(err.factory, err.option);
  return name ? new OptionsError(`${name}: ${err.problem}`) : err;
}

/** A port from the environment, or the variable's declared default. */
export function parsePort(env: Env, name: 'PORT' | 'SANDBOX_PORT'): number {
  const value = env[name] || ENV[name].default;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new OptionsError(`${name} must be a port number (0-65535), got "${value}"`);
  return port;
}

/** A whole number ≥ `min` from the environment, or the variable's declared default. */
export function parseWhole(
  env: Env,
  name:
    | 'HTTP_HEADERS_TIMEOUT_MS'
    | 'HTTP_REQUEST_TIMEOUT_MS'
    | 'HTTP_KEEP_ALIVE_TIMEOUT_MS'
    | 'HTTP_MAX_CONNECTIONS'
    | 'MEMBERCARD_TOPUP_RECONCILE_MS',
  min: number,
): number {
  const value = env[name] || ENV[name].default;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new OptionsError(`${name} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

/** Amounts in fen from a comma-separated list; anything but whole numbers stops serve naming the variable. */
export function parseFen(name: EnvName, value: string | undefined): number[] {
  return parseList(value).map((item) => {
    if (!/^\d{1,12}$/.test(item)) throw new OptionsError(`${name}: "${item}" is not a whole number of fen`);
    return Number(item);
  });
}

/** Bonus tiers `from:extra,…`; a malformed one stops serve with a message naming the variable. */
export function parseBonuses(value: string | undefined): { from: number; extra: number }[] {
  return parseList(value).map((item) => {
    const match = /^(\d+):(\d+)$/.exec(item);
    if (!match) throw new OptionsError(`MEMBERCARD_TOPUP_BONUSES: "${item}" is not from:extra (fen), e.g. 10000:1000`);
    return { from: Number(match[1]), extra: Number(match[2]) };
  });
}

export function parseList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
