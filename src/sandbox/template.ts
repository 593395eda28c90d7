import { chinaTime, randomAlnum } from './ids.js';
import { ApiError } from './reply.js';
import { paramError, rules } from './validate.js';

// The card template (查询会员卡模板信息, GET /cards/{card_id}): the documented fields only, and a
// control-API change so tests can play a merchant who edits the template in 商户平台.

/** The documented code types (code_type): how WeChat draws the card's code. */
export const CODE_TYPES = ['BAR_CODE', 'QRCODE', 'BAR_CODE_AND_QRCODE', 'NONE_CODE'] as const;
export type CodeType = (typeof CODE_TYPES)[number];

export interface CardTemplate {
  card_id: string;
  create_time: string;
  update_time: string;
  status: 'APPROVED';
  brand: { brand_id: string; display_name: string };
  appid: string;
  logo_url: string;
  title: string;
  background_picture_url: string;
  description: string;
  service_phone?: string;
  code_type: CodeType;
  date_information: { type: 'PERMANENT' };
  code_mode: 'SYSTEM_ALLOCATE';
  need_display_level: boolean;
  out_request_no: string;
  need_dynamic_code: boolean;
}

/** What a new sandbox's template says: a tea shop, both codes, a service phone. */
export function defaultTemplate(cardId: string, appid: string): CardTemplate {
  const now = chinaTime();
  return {
    card_id: cardId,
    create_time: now,
    update_time: now,
    status: 'APPROVED',
    brand: { brand_id: randomAlnum(10), display_name: '沙箱茶饮' },
    appid,
    logo_url: 'https://wxpaylogo.qpic.cn/sandbox/logo.png',
    title: '沙箱茶饮会员卡',
    background_picture_url: 'https://wxpaylogo.qpic.cn/sandbox/default.png',
    description: '1. 结账时出示会员码\n2. 余额不可提现\n3. 积分每年年底清零',
    service_phone: '400-000-0000',
    code_type: 'BAR_CODE_AND_QRCODE',
    date_information: { type: 'PERMANENT' },
    code_mode: 'SYSTEM_ALLOCATE',
    need_display_level: true,
    out_request_no: randomAlnum(32),
    need_dynamic_code: false,
  };
}

const URL_RULE = { max: 128, pattern: /^https:\/\//, patternIssue: 'must be an https URL' };

/**
 * A merchant's edit of the template (the control API): the documented display fields, with the
 * documented lengths (title ≤ 10 characters, logo and background URLs ≤ 128, description ≤ 500,
 * service_phone ≤ 32). `service_phone: null` removes the (optional) phone.
 */
export function changeTemplate(template: CardTemplate, body: Record<string, unknown>): CardTemplate {
  rules.onlyKnown(body, [
    'display_name',
    'logo_url',
    'title',
    'background_picture_url',
    'description',
    'service_phone',
    'code_type',
    'need_dynamic_code',
  ]);
  const codeType = body.code_type;
  if (codeType !== undefined && !(CODE_TYPES as readonly unknown[]).includes(codeType))
    throw paramError('code_type', codeType, `must be one of ${CODE_TYPES.join(', ')}`);
  const next: CardTemplate = { ...template, brand: { ...template.brand }, update_time: chinaTime() };
  const displayName = rules.str(body, 'display_name', { max: 32 });
  if (displayName !== undefined) next.brand.display_name = displayName;
  next.logo_url = rules.str(body, 'logo_url', URL_RULE) ?? next.logo_url;
  next.title = rules.str(body, 'title', { max: 10 }) ?? next.title;
  next.background_picture_url = rules.str(body, 'background_picture_url', URL_RULE) ?? next.background_picture_url;
  next.description = rules.str(body, 'description', { max: 500 }) ?? next.description;
  if (body.service_phone === null) delete next.service_phone;
  else next.service_phone = rules.str(body, 'service_phone', { max: 32 }) ?? next.service_phone;
  if (codeType !== undefined) next.code_type = codeType as CodeType;
  next.need_dynamic_code = rules.bool(body, 'need_dynamic_code') ?? next.need_dynamic_code;
  return next;
}

/** The documented answer for a card_id that is not the merchant's (error table of every page). */
export function unknownCardId(cardId: string): ApiError {
  return new ApiError(400, 'INVALID_REQUEST', `会员卡ID无效: card_id ${cardId} is not a card of this merchant`);
}
