import Joi from 'joi';
import { defaultIdentity } from '../identity.js';
import { defaultLog } from '../log.js';
import type { MemberCardOptions } from '../options.js';
import type { Declaration } from './declare.js';
import { limitOptions } from './limits.js';
import { baseUrl, DEFAULT_STORE, id, keyInput, logOption, ms, registryOption, storeOption } from './schemas.js';

const MINUTE = 60_000;

/** An amount in fen: at least 1 fen, at most 1,000,000 yuan. */
const fen = Joi.number().integer().min(1).max(100_000_000);

/** memberCard()'s options: each one's check, default and doc line (the README table is made from it). */
export const MEMBER_CARD_OPTIONS = {
  cardId: {
    schema: id(64),
    required: true,
    doc: { en: 'the member card template id (`card_id`)', zh: '会员卡模板 id（`card_id`）' },
  },
  appid: {
    schema: id(32),
    required: true,
    doc: {
      en: 'the 服务号 AppID the card belongs to (used in open-card parameters)',
      zh: '会员卡所属服务号的 AppID（用于领卡参数）',
    },
  },
  wechatpay: {
    required: true,
    rules: (group) =>
      group
        .and('publicKeyId', 'publicKey')
        .or('publicKeyId', 'certs')
        .messages({ 'object.missing': 'needs publicKeyId and publicKey, or certs, to verify WeChat Pay' }),
    options: {
      mchid: {
        schema: Joi.string()
          .pattern(/^[A-Za-z0-9]+$/, 'letters or digits')
          .max(32),
        required: true,
        doc: { en: '商户号, the merchant id', zh: '商户号' },
      },
      serial: {
        schema: Joi.string()
          .pattern(/^[A-Za-z0-9_]+$/, 'letters, digits or "_"')
          .max(64),
        required: true,
        doc: { en: 'serial of the merchant API certificate', zh: '商户 API 证书序列号' },
      },
      privateKey: {
        schema: keyInput,
        required: true,
        doc: {
          en: 'merchant API private key: PEM, Buffer, KeyObject, path or `file://` URL; never in `cards.options`',
          zh: '商户 API 私钥：PEM、Buffer、KeyObject、路径或 `file://` URL；不会出现在 `cards.options` 中',
        },
      },
      publicKeyId: {
        schema: Joi.string().min(1).max(64),
        defaultDoc: { en: 'this pair, or `certs`', zh: '与 `certs` 二选一' },
        doc: {
          en: 'id of the WeChat Pay platform public key, `PUB_KEY_ID_…`, with `publicKey`',
          zh: '微信支付公钥 id `PUB_KEY_ID_…`，与 `publicKey` 一起给出',
        },
      },
      publicKey: {
        schema: keyInput,
        defaultDoc: { en: 'this pair, or `certs`', zh: '与 `certs` 二选一' },
        doc: {
          en: 'the WeChat Pay platform public key (PEM, Buffer, KeyObject or path), with `publicKeyId`',
          zh: '微信支付公钥（PEM、Buffer、KeyObject 或路径），与 `publicKeyId` 一起给出',
        },
      },
      certs: {
        schema: Joi.object().pattern(Joi.string(), keyInput),
        defaultDoc: { en: 'or the pair above', zh: '或上面那一对' },
        doc: {
          en:
            '`{ serialOrKeyId: pem }`: platform certificates or keys; ' +
            'several may be trusted at once during a rotation',
          zh: '`{ 序列号或公钥id: pem }`：平台证书或公钥；轮换期间可同时信任多个',
        },
      },
      apiv3Key: {
        schema: Joi.string()
          .custom((value: string, helpers) =>
            Buffer.byteLength(value) === 32 ? value : helpers.error('apiv3Key.length'),
          )
          .messages({ 'apiv3Key.length': 'must be exactly 32 bytes' }),
        required: true,
        doc: {
          en: 'the 32-byte APIv3 key (decrypts notifications); never in `cards.options`',
          zh: '32 字节 APIv3 密钥（解密回调）；不会出现在 `cards.options` 中',
        },
      },
      baseURL: {
        schema: baseUrl,
        default: 'https://api.mch.weixin.qq.com/',
        doc: { en: 'another WeChat Pay, a proxy or the sandbox', zh: '其他微信支付地址、代理或沙箱' },
      },
      timeoutMs: {
        schema: ms(1, 120_000),
        default: 5000,
        doc: { en: 'per attempt', zh: '单次请求超时' },
      },
      timeout: { aliasOf: 'timeoutMs' },
      retries: {
        schema: Joi.number().integer().min(0).max(5),
        default: 2,
        doc: {
          en: 'extra attempts after a timeout / 5xx / reset, for safe calls only',
          zh: '超时 / 5xx / 连接重置后的额外重试次数（仅限安全调用）',
        },
      },
    },
  },
  store: {
    schema: storeOption,
    default: DEFAULT_STORE,
    doc: {
      en:
        '`memory:`, `sqlite:…`, `postgres://…`, `redis://…`, `redis+cluster://…`, ' +
        "engine options (`{ engine: 'postgres', pool }`, …) or a store object ([stores](docs/stores.md))",
      zh:
        '`memory:`、`sqlite:…`、`postgres://…`、`redis://…`、`redis+cluster://…`、' +
        "引擎配置（`{ engine: 'postgres', pool }` 等）或存储对象（[存储](docs/stores.zh-CN.md)）",
    },
  },
  identity: {
    schema: Joi.function(),
    default: defaultIdentity,
    defaultDoc: {
      en: '`ctx.state.user`, `ctx.state`, then `ctx.session`',
      zh: '依次为 `ctx.state.user`、`ctx.state`、`ctx.session`',
    },
    doc: { en: '`(ctx) => ({ openid, unionid? })`: who is asking', zh: '`(ctx) => ({ openid, unionid? })`：当前用户' },
  },
  resolveCode: {
    schema: Joi.function(),
    doc: {
      en: '`({ openid, unionid }, ctx) => code | { code, openid }`: your own membership records',
      zh: '`({ openid, unionid }, ctx) => code | { code, openid }`：对接你已有的会员数据',
    },
  },
  selfService: {
    options: {
      backgrounds: {
        schema: Joi.array()
          .items(
            Joi.string()
              .uri({ scheme: ['https'] })
              .max(128),
          )
          .unique(),
        default: [],
        doc: {
          en: 'background URLs users may pick (WeChat Pay image-upload URLs, https, ≤ 128 chars)',
          zh: '用户可选的背景图 URL（微信支付图片上传返回的 URL，https，≤ 128 字符）',
        },
      },
    },
  },
  prefix: {
    schema: Joi.string()
      .pattern(/^\/[A-Za-z0-9/_-]*$/, 'a path like /member-card')
      // '/' mounts at the root: the router takes that as no prefix.
      .custom((value: string) => (value === '/' ? '' : value.replace(/\/+$/, ''))),
    default: '/member-card',
    doc: { en: 'router prefix', zh: '路由前缀' },
  },
  openCard: {
    options: {
      appId: {
        schema: id(32),
        default: 'wxeb490c6f9b154ef9',
        doc: {
          en: "`wx.navigateToMiniProgram` target: WeChat's card-opening mini-program",
          zh: '`wx.navigateToMiniProgram` 的目标：微信领卡小程序',
        },
      },
      path: {
        schema: Joi.string().max(256),
        default: 'pages/card_open/card_open',
        doc: { en: 'its page', zh: '其页面路径' },
      },
      envVersion: {
        schema: Joi.string().valid('release', 'trial', 'develop'),
        default: 'release',
        doc: { en: '`release`, `trial` or `develop`', zh: '`release`、`trial` 或 `develop`' },
      },
      activateType: {
        schema: Joi.string().max(32),
        doc: { en: 'passed on as `extraData.activate_type`', zh: '原样放入 `extraData.activate_type`' },
      },
      jumpUrl: {
        schema: Joi.string()
          .uri({ scheme: ['https'] })
          .max(256),
        doc: { en: 'passed on as `extraData.jump_url`', zh: '原样放入 `extraData.jump_url`' },
      },
      outerStrTtlMs: {
        schema: ms(1000),
        default: 30 * MINUTE,
        doc: { en: 'lifetime of an issued `outer_str`', zh: '签发的 `outer_str` 有效期' },
      },
      outerStrTtl: { aliasOf: 'outerStrTtlMs' },
    },
  },
  bodyLimit: {
    schema: Joi.alternatives().try(Joi.string().pattern(/^\d+\s*(b|kb|mb)?$/i), Joi.number().integer().min(1)),
    default: '16kb',
    doc: { en: 'largest self-service body', zh: '自助修改请求体上限' },
  },
  cache: {
    options: {
      ttlMs: {
        schema: ms(0, 24 * 60 * MINUTE),
        default: 10_000,
        doc: {
          en: 'how long this instance reuses a card read (and who holds which code); 0 turns the cache off',
          zh: '单实例读缓存（会员卡，以及用户对应的卡号）的复用时长；0 关闭',
        },
      },
      ttl: { aliasOf: 'ttlMs' },
      coherentTtlMs: {
        schema: ms(0, 24 * 60 * MINUTE),
        default: MINUTE,
        doc: {
          en:
            'the longer `ttlMs` used while the cache bus of a Redis or PostgreSQL store is live (a change on any ' +
            'instance drops the card everywhere); what it still bounds is a change made outside this module',
          zh:
            'Redis 或 PostgreSQL 存储的缓存总线在线时（任一实例上的变更会让所有实例丢弃该卡）使用的较长 `ttlMs`；' +
            '它仍约束的只是绕过本模块做出的变更',
        },
      },
      staleWhileRevalidateMs: {
        schema: ms(0, 24 * 60 * MINUTE),
        default: MINUTE,
        doc: {
          en:
            'after `ttlMs`, how long a card is still answered at once while one background read refreshes it ' +
            '(stale-while-revalidate); 0 waits for the new read',
          zh: '超过 `ttlMs` 后，在这段时间内仍立即返回缓存的卡，同时由一次后台读取刷新（stale-while-revalidate）；0 表示等待新读取',
        },
      },
      maxStaleMs: {
        schema: ms(0, 7 * 24 * 60 * MINUTE),
        default: 24 * 60 * MINUTE,
        defaultDoc: { en: '24 h', zh: '24 小时' },
        doc: {
          en:
            'while WeChat Pay answers 5xx / 429, times out or cannot be reached, a card read this recently is ' +
            'answered with `stale: true` and `asOf` instead of an error (edits are refused with 503 ' +
            '`UPSTREAM_BUSY`); 0 never answers stale',
          zh:
            '微信支付返回 5xx / 429、超时或无法连接时，在此时长内读过的卡以 `stale: true` 和 `asOf` 返回而不报错' +
            '（此时修改返回 503 `UPSTREAM_BUSY`）；0 表示从不返回旧数据',
        },
      },
      max: {
        schema: Joi.number().integer().min(1).max(10_000_000),
        default: 10_000,
        doc: { en: 'most entries the read cache keeps', zh: '读缓存的最大条目数' },
      },
    },
  },
  log: {
    schema: logOption,
    default: defaultLog,
    defaultDoc: { en: 'JSON lines on stderr', zh: 'stderr 上的 JSON 行' },
    doc: {
      en:
        '`(level, message, fields) => void`, or a pino-style logger (`logger.info(fields, message)`, `warn`, ' +
        '`error`); fields are chosen by us and never hold secrets, bodies or stacks',
      zh:
        '`(level, message, fields) => void`，或 pino 风格的 logger（`logger.info(fields, message)`、`warn`、' +
        '`error`）；字段由我们挑选，绝不包含密钥、报文或堆栈',
    },
  },
  metrics: {
    schema: registryOption,
    defaultDoc: { en: 'a private registry', zh: '私有 registry' },
    doc: {
      en:
        'a prom-client `Registry` to put our `membercard_…` series in ([metrics](docs/metrics.md)); ' +
        "without it nothing is registered in prom-client's global registry",
      zh:
        '放入 `membercard_…` 指标的 prom-client `Registry`（见[指标](docs/metrics.zh-CN.md)）；' +
        '不给出时不会向 prom-client 的全局 registry 注册任何指标',
    },
  },
  authorizeAdmin: {
    schema: Joi.function(),
    doc: {
      en:
        '`(ctx) => boolean`: mounts the back-office routes under `{prefix}/admin/…` ' +
        '([merchant operations](docs/operations.md))',
      zh: '`(ctx) => boolean`：挂载 `{prefix}/admin/…` 后台管理接口（见[商户操作](docs/operations.zh-CN.md)）',
    },
  },
  operations: {
    options: {
      lockTtlMs: {
        schema: ms(100, 600_000),
        default: 15_000,
        doc: {
          en: 'lease of the per-card lock, renewed while held: bounds the wait after a crash',
          zh: '单卡锁的租约时长（持有期间续租）：崩溃后最多等待这么久',
        },
      },
      lockWaitMs: {
        schema: ms(0, 600_000),
        default: 10_000,
        doc: {
          en: 'how long a change waits for a card another change holds, before 503 `CARD_BUSY`',
          zh: '变更等待被其他变更锁住的卡的最长时间，之后返回 503 `CARD_BUSY`',
        },
      },
      sweepAfterMs: {
        schema: ms(100, 24 * 60 * MINUTE),
        default: MINUTE,
        doc: {
          en:
            'a change left pending this long (a crash, a lost answer) is settled by the sweep: re-sent with the ' +
            'same `out_request_no`, or reconciled from the card',
          zh: '挂起这么久的变更（崩溃、应答丢失）由清理任务了结：以相同 `out_request_no` 重发，或读卡核对',
        },
      },
      sweepEveryMs: {
        schema: ms(0, 24 * 60 * MINUTE),
        default: MINUTE,
        doc: {
          en:
            'how often the background sweep settles pending changes and due top-ups (one instance at a time); ' +
            '`0`: only `cards.operations.sweep()`',
          zh: '后台清理任务了结挂起变更和到期充值订单的间隔（同一时间只有一个实例执行）；`0`：仅 `cards.operations.sweep()`',
        },
      },
    },
  },
  brand: {
    options: {
      color: {
        schema: Joi.string().pattern(/^#[0-9A-Fa-f]{6}$/, 'a colour like #1F6F5C'),
        doc: {
          en: "the card face's colour, `#RRGGBB`, in `brand.color`: the card template has no colour field",
          zh: '卡面主色 `#RRGGBB`，放入 `brand.color`：会员卡模板没有颜色字段',
        },
      },
      templateTtlMs: {
        schema: ms(0, 24 * 60 * MINUTE),
        default: 5 * MINUTE,
        doc: {
          en:
            'how long this instance reuses the card template (brand name, logo, title, code type); 0 reads it ' +
            'for every card read. WeChat Pay documents no notification of a template change',
          zh: '单实例复用会员卡模板（品牌名、logo、标题、码类型）的时长；0 表示每次读卡都读取。微信支付没有文档化的模板变更通知',
        },
      },
    },
  },
  memberCode: {
    options: {
      rotate: {
        schema: Joi.boolean(),
        default: true,
        doc: {
          en:
            '`GET /code` gives one-time 18-digit codes the till verifies; `false`: the membership number, ' +
            'drawn as the template’s `code_type` says',
          zh: '`GET /code` 发放一次性 18 位会员码，由收银台核销；`false`：按模板 `code_type` 展示会员号',
        },
      },
      ttlMs: {
        schema: ms(10_000, 10 * MINUTE),
        default: MINUTE,
        doc: {
          en: 'how long a one-time member code is valid; the component fetches the next one before',
          zh: '一次性会员码的有效期；组件会在到期前取新码',
        },
      },
      burst: {
        schema: Joi.number().integer().min(1).max(1000),
        default: 10,
        doc: {
          en: '`GET /code` per user: at most this many at once (a token bucket in the store, shared by instances)…',
          zh: '每位用户的 `GET /code`：最多连续这么多次（存储中的令牌桶，各实例共享）……',
        },
      },
      perMinute: {
        schema: Joi.number().min(0.1).max(6000),
        default: 6,
        doc: {
          en: '…refilled at this many a minute; beyond: 429 `RATE_LIMITED` with `Retry-After`',
          zh: '……每分钟补充这么多次；超出时返回 429 `RATE_LIMITED` 与 `Retry-After`',
        },
      },
    },
  },
  topup: {
    rules: (group) =>
      group
        .oxor('amounts', 'min')
        .and('min', 'max')
        .with('amounts', ['appid', 'notifyUrl'])
        .with('min', ['appid', 'notifyUrl'])
        .custom((value: { min?: number; max?: number; amounts?: unknown; appid?: unknown }, helpers) => {
          if (value.min !== undefined && value.max !== undefined && value.min > value.max)
            return helpers.error('topup.range');
          if (value.appid !== undefined && value.amounts === undefined && value.min === undefined)
            return helpers.error('topup.offers');
          return value;
        })
        .messages({
          'topup.range': 'min must not be above max',
          'topup.offers': 'needs amounts, or min and max, to offer anything',
          'object.with': 'needs {#peer} with {#main}',
          'object.and': 'needs min and max together',
          'object.oxor': 'takes amounts, or min and max, not both',
        }),
    options: {
      appid: {
        schema: id(32),
        defaultDoc: { en: 'required with `amounts` or `min`', zh: '给出 `amounts` 或 `min` 时必填' },
        doc: {
          en: "the mini-program's AppID: the JSAPI order's `appid`, under which the session openid pays",
          zh: '小程序 AppID：JSAPI 下单的 `appid`，会话中的 openid 即其下的付款人',
        },
      },
      notifyUrl: {
        schema: Joi.string()
          .uri({ scheme: ['http', 'https'] })
          .max(255)
          .pattern(/^[^?#]*$/, 'a URL without query parameters'),
        defaultDoc: { en: 'required with `amounts` or `min`', zh: '给出 `amounts` 或 `min` 时必填' },
        doc: {
          en: 'public https URL of `POST {prefix}/pay-notify`, sent as every order’s `notify_url` (no query)',
          zh: '`POST {prefix}/pay-notify` 的公网 https 地址，作为每笔订单的 `notify_url`（不能带参数）',
        },
      },
      amounts: {
        schema: Joi.array().items(fen).min(1).max(20).unique(),
        defaultDoc: { en: 'none: top-ups off', zh: '无：不开启充值' },
        doc: {
          en: 'the amounts users may pay, in fen, e.g. `[5000, 10000, 20000]`; turns top-ups on',
          zh: '用户可充值的金额（分），如 `[5000, 10000, 20000]`；给出即开启充值',
        },
      },
      min: {
        schema: fen,
        doc: { en: 'or any amount from `min`…', zh: '或从 `min`……' },
      },
      max: {
        schema: fen,
        doc: { en: '…to `max` fen (instead of `amounts`)', zh: '……到 `max` 分之间的任意金额（代替 `amounts`）' },
      },
      bonuses: {
        schema: Joi.array()
          .items(Joi.object({ from: fen.required(), extra: fen.required() }))
          .max(20)
          .unique('from'),
        default: [],
        doc: {
          en:
            '`[{ from: 10000, extra: 1000 }]`: paying at least `from` credits `extra` more ' +
            '(the highest tier reached)',
          zh: '`[{ from: 10000, extra: 1000 }]`：支付不少于 `from` 分时多充 `extra` 分（按达到的最高档）',
        },
      },
      description: {
        schema: Joi.string().min(1).max(100),
        default: '会员卡充值',
        doc: {
          en: 'the order description in the user’s bill, followed by the amount (`会员卡充值 ¥100.00`)',
          zh: '用户账单中的商品描述，后接金额（`会员卡充值 ¥100.00`）',
        },
      },
      reuseWindowMs: {
        schema: ms(0, 10 * MINUTE),
        default: MINUTE,
        doc: {
          en: 'a tap for the same amount within this time reuses the pending order instead of making another',
          zh: '此时间内对同一金额的再次点击复用未支付的订单，不再新建',
        },
      },
      expireMs: {
        schema: ms(5 * MINUTE, 2 * 60 * MINUTE),
        default: 15 * MINUTE,
        doc: {
          en:
            'how long an order can be paid (`time_expire`); 5 min to 2 h, within the life of its `prepay_id`, ' +
            'then it is closed',
          zh: '订单可支付的时长（`time_expire`）；5 分钟至 2 小时，不超过 `prepay_id` 的有效期，过后关单',
        },
      },
      reconcileAfterMs: {
        schema: ms(1000, 60 * MINUTE),
        default: 3 * MINUTE,
        doc: {
          en: 'an order with no notification this long after it was made is queried at WeChat Pay',
          zh: '下单后这么久仍未收到通知的订单，向微信支付查询',
        },
      },
      retryMs: {
        schema: ms(100, 10 * MINUTE),
        default: 10_000,
        doc: {
          en:
            'first wait before a failed step (credit, query, close, delivery report) is tried again; ' +
            'doubles up to 1 h',
          zh: '失败步骤（入账、查单、关单、发货信息）首次重试前的等待；每次翻倍，最长 1 小时',
        },
      },
      shipping: {
        options: {
          accessToken: {
            schema: Joi.function(),
            defaultDoc: { en: 'none: no report', zh: '无：不上报' },
            doc: {
              en:
                '`() => token`: the mini-program access token; turns on the virtual-goods delivery report to ' +
                '小程序发货信息管理 after each credit',
              zh: '`() => token`：小程序 access_token；给出后每次入账都向小程序发货信息管理上报虚拟商品发货',
            },
          },
          itemDesc: {
            schema: Joi.string().min(1).max(120),
            defaultDoc: { en: 'the order description', zh: '订单描述' },
            doc: { en: 'what the report says was delivered', zh: '发货信息中的商品描述' },
          },
          baseURL: {
            schema: baseUrl,
            default: 'https://api.weixin.qq.com/',
            doc: { en: 'where `upload_shipping_info` is called', zh: '`upload_shipping_info` 的调用地址' },
          },
        },
      },
    },
  },
  upstream: {
    options: {
      perSecond: {
        schema: Joi.number().min(0).max(100_000),
        default: 0,
        doc: {
          en:
            'card and template reads sent to WeChat Pay per second by all instances together (a token bucket in ' +
            'the store); over it a read is answered stale if it can be, else 429 `RATE_LIMITED`. `0`: no budget ' +
            "(WeChat Pay's per-merchant limits are not published; set it below yours)",
          zh:
            '所有实例合计每秒发往微信支付的读卡与读模板请求数（存储中的令牌桶）；超出时能返回旧数据则返回，否则 429 ' +
            '`RATE_LIMITED`。`0`：不限（微信支付未公布各商户的频率上限，请设在你的上限之下）',
        },
      },
      burst: {
        schema: Joi.number().integer().min(1).max(1_000_000),
        default: 50,
        doc: { en: '…and how many at once', zh: '……以及一次最多多少个' },
      },
    },
  },
  rateLimit: {
    options: {
      open: limitOptions(
        { burst: 10, perMinute: 10 },
        {
          en: '`GET /open` calls one user may make at once (each answers their one live `outer_str`)',
          zh: '同一用户一次可调用 `GET /open` 的次数（每次返回其唯一有效的 `outer_str`）',
        },
        { en: '…and per minute after that; `0` turns this limit off', zh: '……之后每分钟的次数；`0` 关闭此限制' },
      ),
      adminFailures: limitOptions(
        { burst: 10, perMinute: 6 },
        {
          en:
            'refused admin attempts one client address may make at once; beyond them, 429 before its ' +
            'credentials are looked at',
          zh: '同一客户端地址一次可被拒绝的后台请求次数；超出后先返回 429，不再检查其凭据',
        },
        { en: '…and per minute after that; `0` turns this limit off', zh: '……之后每分钟的次数；`0` 关闭此限制' },
      ),
    },
  },
} satisfies Declaration<MemberCardOptions>;
