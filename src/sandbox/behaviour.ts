import { ApiError } from './reply.js';

// Where WeChat Pay's documentation is silent (or contradicts itself), the sandbox does not pick one
// answer: each open question is a switch here, so tests can cover every plausible answer. Set at
// start (SandboxOptions.behaviour, CLI --behaviour name=value) and at run time (PUT
// /sandbox/behaviour). The README's switch table is made from these declarations;
// docs/wechatpay-conformance.md names the documentation behind each one.

interface Switch {
  /** The allowed values; the first is the default. */
  values: readonly (string | number | boolean)[];
  en: string;
  zh: string;
}

export const BEHAVIOUR = {
  replayAnswer: {
    values: [204, 400],
    en: 'a replayed `out_request_no` whose change was applied: 204 again, or 400 `INVALID_REQUEST` saying it was used',
    zh: '已生效的 `out_request_no` 重放：再次 204，或 400 `INVALID_REQUEST` 提示单号已使用',
  },
  unknownCode: {
    values: [404, 400],
    en: 'an unknown code under our card_id: 404 `RESOURCE_NOT_EXISTS`, or 400 `INVALID_REQUEST` naming the code',
    zh: '本 card_id 下不存在的 code：404 `RESOURCE_NOT_EXISTS`，或提及该 code 的 400 `INVALID_REQUEST`',
  },
  signWith: {
    values: ['auto', 'header', 'publicKey', 'certificate'],
    en:
      'key that signs answers. `auto`: the mode’s key (migrating: as `header`); `header`: the public key when ' +
      'the request’s `Wechatpay-Serial` names it, else the platform certificate',
    zh:
      '应答签名所用密钥。`auto`：模式对应的密钥（迁移模式同 `header`）；`header`：请求 `Wechatpay-Serial` ' +
      '为公钥 ID 时用公钥，否则用平台证书',
  },
  notifyKey: {
    values: ['auto', 'publicKey', 'certificate', 'alternate'],
    en: 'key that signs notifications. `auto`: the mode’s key (migrating: `alternate`, one then the other)',
    zh: '通知签名所用密钥。`auto`：模式对应的密钥（迁移模式为 `alternate`，两者交替）',
  },
  requestSerial: {
    values: ['ignore', 'check', 'require'],
    en:
      'the request’s `Wechatpay-Serial`: ignored; when present must name a platform key; ' +
      'or required (400 `INVALID_REQUEST`)',
    zh: '请求的 `Wechatpay-Serial`：忽略；存在时须为平台密钥；或必填（否则 400 `INVALID_REQUEST`）',
  },
  retrySchedule: {
    values: ['membercard', 'payment'],
    en:
      'notification retries: the member-card pages’ 11 deliveries 60 s apart, ' +
      'or the payment schedule (15 s … 6 h, 24 h 4 min)',
    zh: '通知重试：会员卡文档的 60 秒一次共 11 次，或支付通知的频率（15 秒 … 6 小时，共 24 小时 4 分）',
  },
  associatedData: {
    values: ['membercard', 'empty', 'absent'],
    en: 'a notification’s `resource.associated_data`: `membercard`, empty, or left out',
    zh: '通知 `resource.associated_data`：`membercard`、空串或不出现',
  },
  callbackPatchAnswer: {
    values: [200, 204],
    en: '`PATCH /callback`: 200 `{ notify_url, mchid }` as documented, or 204',
    zh: '`PATCH /callback`：按文档 200 `{ notify_url, mchid }`，或 204',
  },
  callbackUnset: {
    values: ['empty', 404],
    en: '`GET /callback` before any `PATCH`: `notify_url` empty, or 404 `RESOURCE_NOT_EXISTS`',
    zh: '尚未 `PATCH` 时的 `GET /callback`：`notify_url` 为空，或 404 `RESOURCE_NOT_EXISTS`',
  },
  listDeleted: {
    values: [false, true],
    en: 'whether `GET /user/cards` lists cards the user deleted',
    zh: '`GET /user/cards` 是否列出用户已删除的卡',
  },
  balanceCheck: {
    values: ['strict', 'off'],
    en: 'balance and points arithmetic (before + add = after, before = stored, never negative): checked, or not',
    zh: '余额与积分运算（变更前 + 变动 = 变更后，变更前 = 当前值，不为负）：校验或不校验',
  },
  statusCheck: {
    values: ['on', 'off'],
    en: 'whether a card that is not `EFFECTIVE` refuses changes (400 `INVALID_REQUEST`)',
    zh: '非 `EFFECTIVE` 的卡是否拒绝修改（400 `INVALID_REQUEST`）',
  },
  emptyPatch: {
    values: ['refuse', 'accept'],
    en: 'a `PATCH …/codes/{code}` that changes no card field: 400 `PARAM_ERROR`, or 204',
    zh: '不修改任何卡字段的 `PATCH …/codes/{code}`：400 `PARAM_ERROR`，或 204',
  },
  requireJsonHeaders: {
    values: [false, true],
    en: 'whether `/v3/` requests must send `Accept` (and, with a body, `Content-Type`) `application/json`',
    zh: '`/v3/` 请求是否必须带 `Accept`（有请求体时还有 `Content-Type`）`application/json`',
  },
  allowHttpNotifyUrl: {
    values: [true, false],
    en: 'whether `PATCH /callback` and JSAPI orders take an `http://` `notify_url` (WeChat Pay takes https only)',
    zh: '`PATCH /callback` 与 JSAPI 下单是否接受 `http://` 的 `notify_url`（微信支付只接受 https）',
  },
  payAssociatedData: {
    values: ['transaction', 'empty'],
    en:
      'a payment notification’s `resource.associated_data`: `transaction` (seen in real payloads) ' +
      'or empty (the official sample)',
    zh: '支付通知的 `resource.associated_data`：`transaction`（实际报文）或空串（官方示例）',
  },
  closePaid: {
    values: [400, 204],
    en: 'closing a paid order: 400 `ORDERPAID` (the APIv2 code; APIv3 documents none), or 204 without closing it',
    zh: '关闭已支付的订单：400 `ORDERPAID`（APIv2 的错误码，APIv3 未写明），或 204 但不关闭',
  },
} as const satisfies Record<string, Switch>;

export type BehaviourName = keyof typeof BEHAVIOUR;
export type SandboxBehaviour = { -readonly [K in BehaviourName]: (typeof BEHAVIOUR)[K]['values'][number] };

export const BEHAVIOUR_NAMES = Object.keys(BEHAVIOUR) as BehaviourName[];

const valuesOf = (name: BehaviourName): readonly unknown[] => BEHAVIOUR[name].values;

export function defaultBehaviour(): SandboxBehaviour {
  return Object.fromEntries(BEHAVIOUR_NAMES.map((name) => [name, valuesOf(name)[0]])) as SandboxBehaviour;
}

/** `base` with the switches of `value` applied; an unknown name or value is a 400 naming it. */
export function parseBehaviour(value: unknown, base: SandboxBehaviour): SandboxBehaviour {
  if (value === undefined) return { ...base };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ApiError(400, 'PARAM_ERROR', 'behaviour: must be an object of switches');
  const out: Record<string, unknown> = { ...base };
  for (const [name, given] of Object.entries(value)) {
    if (!(BEHAVIOUR_NAMES as string[]).includes(name)) {
      const known = BEHAVIOUR_NAMES.join(', ');
      throw new ApiError(400, 'PARAM_ERROR', `behaviour: unknown switch ${name} (known: ${known})`);
    }
    const values = valuesOf(name as BehaviourName);
    if (!values.includes(given)) {
      const list = values.map((v) => JSON.stringify(v)).join(', ');
      throw new ApiError(400, 'PARAM_ERROR', `behaviour.${name}: one of ${list}, got ${JSON.stringify(given)}`);
    }
    out[name] = given;
  }
  return out as SandboxBehaviour;
}

/** `name=value` from the command line, the value matched as text against the switch's values. */
export function parseBehaviourFlag(text: string): Partial<SandboxBehaviour> {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : '';
  if (!(BEHAVIOUR_NAMES as string[]).includes(name))
    throw new Error(`--behaviour takes name=value, name one of ${BEHAVIOUR_NAMES.join(', ')}; got ${text}`);
  const values = valuesOf(name as BehaviourName);
  const raw = text.slice(eq + 1);
  const value = values.find((v) => String(v) === raw);
  if (value === undefined) throw new Error(`--behaviour ${name}: one of ${values.join(', ')}, got ${raw}`);
  return { [name]: value };
}

/** The switches in force: the start-up set, replaced by PUT /sandbox/behaviour. */
export class Behaviour {
  #current: SandboxBehaviour;

  constructor(private readonly initial: SandboxBehaviour) {
    this.#current = { ...initial };
  }

  get(): SandboxBehaviour {
    return this.#current;
  }

  /** PUT: the start-up switches, with the ones given replaced (so PUT {} restores the start). */
  set(body: unknown): SandboxBehaviour {
    this.#current = parseBehaviour(body ?? {}, this.initial);
    return { ...this.#current };
  }
}
