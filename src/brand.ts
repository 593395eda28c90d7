import { MemberCardError } from './errors.js';
import { errorName } from './log.js';
import type { Runtime } from './runtime.js';
import type { CardTemplate, CodeType } from './wechatpay/types.js';

/**
 * The brand's face as `GET /` answers it: what the card template says, under its documented
 * names, and the merchant's colour (the template has none: `brand.color`).
 */
export interface Brand {
  display_name: string;
  logo_url: string;
  title: string;
  background_picture_url: string;
  /** 使用须知. */
  description: string;
  service_phone?: string;
  code_type: CodeType;
  /** `#RRGGBB` from the brand.color option; absent: the face is drawn over the background picture. */
  color?: string;
}

const CODE_TYPES: readonly string[] = ['BAR_CODE', 'QRCODE', 'BAR_CODE_AND_QRCODE', 'NONE_CODE'];

export function brandOf(template: CardTemplate, color: string | undefined): Brand {
  const codeType = template.code_type;
  const brand: Brand = {
    display_name: template.brand?.display_name ?? '',
    logo_url: template.logo_url ?? '',
    title: template.title ?? '',
    background_picture_url: template.background_picture_url ?? '',
    description: template.description ?? '',
    // An unknown code type (a later addition) is drawn as both: a till reads either.
    code_type: codeType && CODE_TYPES.includes(codeType) ? codeType : 'BAR_CODE_AND_QRCODE',
  };
  if (template.service_phone) brand.service_phone = template.service_phone;
  if (color) brand.color = color;
  return brand;
}

/**
 * The brand, from the template cache; null when the template cannot be read now: the card is
 * what the member came for, so a template outage must not take it down.
 */
/** One Brand per template object read (kept for minutes): the same object answers every request. */
const brands = new WeakMap<CardTemplate, Brand>();

export async function loadBrand(rt: Runtime): Promise<Brand | null> {
  const { cardId, brand } = rt.options;
  try {
    const template = await rt.templates.get(cardId, () => rt.client.getCardTemplate(cardId));
    let made = brands.get(template);
    if (!made || made.color !== brand.color) {
      made = brandOf(template, brand.color);
      brands.set(template, made);
    }
    return made;
  } catch (err) {
    rt.log('warn', 'card template unavailable; answering without brand', {
      cardId,
      error: err instanceof MemberCardError ? err.code : errorName(err),
    });
    return null;
  }
}
