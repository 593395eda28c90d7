import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CardTemplate } from './template.js';

// What the sandbox remembers between requests and across restarts: people, cards, login codes,
// the notify URL and notifications. Plain JSON, rewritten atomically after every change.

export const CARD_STATUSES = ['NOT_ACTIVATE', 'EFFECTIVE', 'EXPIRE', 'UNAVAILABLE', 'DELETE'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];

/** One person: their mini-program openid, their 服务号 openid, and their unionid. */
export interface User {
  unionid: string;
  mp_openid: string;
  oa_openid: string;
  /** false: a mini-program not bound to the Open Platform, so unionid is never disclosed. */
  share_unionid: boolean;
  nickname: string;
  head_image_url: string;
}

export interface Card {
  card_id: string;
  code: string;
  /** The 服务号 openid of the holder; absent for a member synced by phone number (not in 卡包 yet). */
  openid?: string;
  membership_number: string;
  level: string;
  nickname?: string;
  head_image_url?: string;
  background_picture_url: string;
  balance: number;
  bonus_value: number;
  user_card_status: CardStatus;
  user_information: {
    common_field_list: Array<{ name: string; value: string }>;
    custom_field_list: Array<{ name: string; value: string; value_list?: string[] }>;
  };
  /** Sandbox bookkeeping below: never part of WeChat Pay's answer. */
  unionid: string;
  /** Made by a phone-number sync: no openid, nickname or head image in the answer. */
  phone_synced?: boolean;
  outer_str?: string;
  /** out_request_no values already applied, per endpoint (a replay changes nothing). */
  applied: { card: string[]; rights: string[] };
  created_at: number;
}

export interface LoginCode {
  js_code: string;
  mp_openid: string;
  expires_at: number;
  used: boolean;
}

export interface StoredNotification {
  id: string;
  event_type: string;
  card_id: string;
  code: string;
  /** The exact JSON body sent on every attempt (same id, same ciphertext). */
  body: string;
  attempts: number;
  last_status: number | null;
  last_error?: string;
  /** The Wechatpay-Serial of the key that signed the last delivery. */
  last_serial?: string;
  delivered: boolean;
  /** True once WeChat's retry schedule is used up. */
  abandoned: boolean;
  created_at: number;
}

export interface StateData {
  version: 1;
  users: User[];
  cards: Card[];
  login_codes: LoginCode[];
  notify_url: string | null;
  notifications: StoredNotification[];
  /** The card template (made on first use; changed through the control API). */
  template?: CardTemplate;
}

/** Delivered notifications kept for GET /sandbox/notifications; older ones are dropped. */
const KEEP_DELIVERED = 500;

const empty = (): StateData => ({
  version: 1,
  users: [],
  cards: [],
  login_codes: [],
  notify_url: null,
  notifications: [],
});

export class SandboxState {
  readonly data: StateData;
  private readonly file: string;

  constructor(stateDir: string) {
    this.file = join(stateDir, 'state.json');
    this.data = existsSync(this.file) ? parse(readFileSync(this.file, 'utf8'), this.file) : empty();
  }

  findUser(by: { unionid?: unknown; mp_openid?: unknown }): User | undefined {
    if (typeof by.unionid === 'string') return this.data.users.find((u) => u.unionid === by.unionid);
    if (typeof by.mp_openid === 'string') return this.data.users.find((u) => u.mp_openid === by.mp_openid);
    return undefined;
  }

  findCard(cardId: string, code: string): Card | undefined {
    return this.data.cards.find((c) => c.card_id === cardId && c.code === code);
  }

  userOfCard(card: Card): User | undefined {
    return this.data.users.find((u) => u.unionid === card.unionid);
  }

  /** Writes a temp file then renames it, so a crash never leaves half a state file. */
  save(): void {
    const now = Date.now();
    this.data.login_codes = this.data.login_codes.filter((c) => c.expires_at > now);
    const delivered = this.data.notifications.filter((n) => n.delivered);
    if (delivered.length > KEEP_DELIVERED) {
      const drop = new Set(delivered.slice(0, delivered.length - KEEP_DELIVERED));
      this.data.notifications = this.data.notifications.filter((n) => !drop.has(n));
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.data));
    renameSync(tmp, this.file);
  }
}

function parse(text: string, file: string): StateData {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || (value as { version?: unknown }).version !== 1) {
    throw new Error(`sandbox: ${file} is not a sandbox state file; remove it to start afresh`);
  }
  return { ...empty(), ...(value as Partial<StateData>) };
}
