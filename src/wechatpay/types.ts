/** A user's member card as WeChat Pay's GET /cards/{card_id}/codes/{code} returns it. */
export interface UpstreamCard {
  card_id: string;
  code: string;
  /** The user's openid under the card's 服务号; never sent to our clients. */
  openid?: string;
  membership_number?: string;
  level?: string;
  nickname?: string;
  head_image_url?: string;
  background_picture_url?: string;
  /** Stored value in fen (分). */
  balance?: number;
  bonus_value?: number;
  user_card_status?: CardStatus;
  user_information?: {
    common_field_list?: Array<{ name: string; value: string }>;
    custom_field_list?: Array<{ name: string; value?: string; value_list?: string[] }>;
  };
}

export type CardStatus = 'NOT_ACTIVATE' | 'EFFECTIVE' | 'EXPIRE' | 'UNAVAILABLE' | 'DELETE';

/** The card as our clients see it: WeChat Pay's fields minus the 服务号 openid. */
export type Card = Omit<UpstreamCard, 'openid'>;

/** Body of PATCH /cards/{card_id}/codes/{code}. `out_request_no` makes a retry safe. */
export interface CardUpdate {
  out_request_no: string;
  membership_number?: string;
  background_picture_url?: string;
  level?: string;
  balance_information?: {
    before_balance: number;
    balance: number;
    add_balance: number;
    balance_remark?: string;
  };
  need_inform_balance?: boolean;
  need_inform_level?: boolean;
}

/**
 * Body of PATCH /cards/{card_id}/codes/{code}/rights (points): exactly the documented fields
 * (set-user-card-rights). There is no remark for points.
 */
export interface RightsUpdate {
  out_request_no: string;
  before_bonus_value: number;
  bonus_value: number;
  add_bonus_value: number;
  need_inform_bonus?: boolean;
  /** ≤ 8 characters. */
  member_price_word?: string;
  /** ≤ 6 characters. */
  fapiao_jump_word?: string;
  guide?: {
    staff_name?: string;
    head_image_url?: string;
    contact_information_name?: string;
    contact_information_value?: string;
    phone_number?: string;
  };
}

/** The decrypted resource of a member-card notification. */
export interface NotificationPayload {
  event_type?: string;
  card_id?: string;
  code?: string;
  event_time?: string;
  openid?: string;
  unionid?: string;
  outer_str?: string;
  activate_scene?: string;
  [key: string]: unknown;
}

/** A verified and decrypted notification. */
export interface VerifiedNotification {
  id: string;
  /** The envelope's event_type, e.g. MEMBERCARD.ACCEPT_CARD. */
  eventType: string;
  createTime?: string;
  payload: NotificationPayload;
}

/** How WeChat draws a card's code (the template's code_type). */
export type CodeType = 'BAR_CODE' | 'QRCODE' | 'BAR_CODE_AND_QRCODE' | 'NONE_CODE';

/**
 * The card template as GET /cards/{card_id} (查询会员卡模板信息) returns it; only the fields we read
 * are named, and, like every answer, each is treated as optional. There is no colour field.
 */
export interface CardTemplate {
  card_id?: string;
  status?: string;
  brand?: { brand_id?: string; display_name?: string };
  appid?: string;
  /** 120×120 px, from WeChat Pay's image upload. */
  logo_url?: string;
  /** ≤ 10 Chinese characters. */
  title?: string;
  /** 1000×600 px. */
  background_picture_url?: string;
  /** 使用须知, ≤ 500 characters. */
  description?: string;
  service_phone?: string;
  code_type?: CodeType;
  /** WeChat's own rotating 18-digit code in 卡包. */
  need_dynamic_code?: boolean;
  update_time?: string;
}
