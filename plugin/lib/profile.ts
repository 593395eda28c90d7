// What the member told WeChat when opening the card (user_information), in the words they read; the
// phone number masked (138****1234), since the card is shown at a till.
import type { Card } from './api';

export interface ProfileRow {
  label: string;
  value: string;
}

/** WeChat Pay's USER_FORM_FLAG_* common fields, in Chinese. */
const LABELS: Record<string, string> = {
  USER_FORM_FLAG_NAME: '姓名',
  USER_FORM_FLAG_MOBILE: '手机号',
  USER_FORM_FLAG_SEX: '性别',
  USER_FORM_FLAG_BIRTHDAY: '生日',
  USER_FORM_FLAG_CITY: '城市',
  USER_FORM_FLAG_ADDRESS: '地址',
  USER_FORM_FLAG_EMAIL: '邮箱',
};

/** 13812341234 → 138****1234; a number of another length keeps its first 3 and last 4 at most. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\s+/g, '');
  if (digits.length <= 4) return '*'.repeat(digits.length);
  if (digits.length <= 7) return `${'*'.repeat(digits.length - 4)}${digits.slice(-4)}`;
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

interface Field {
  name?: unknown;
  value?: unknown;
  value_list?: unknown;
}

function list(value: unknown): Field[] {
  return Array.isArray(value) ? (value.filter((f) => f && typeof f === 'object') as Field[]) : [];
}

export function profileRows(card: Card): ProfileRow[] {
  const info = (card.user_information && typeof card.user_information === 'object' ? card.user_information : {}) as {
    common_field_list?: unknown;
    custom_field_list?: unknown;
  };
  const rows: ProfileRow[] = [];
  for (const field of list(info.common_field_list)) {
    if (typeof field.name !== 'string' || typeof field.value !== 'string' || !field.value) continue;
    const label = LABELS[field.name];
    if (!label) continue;
    rows.push({ label, value: field.name === 'USER_FORM_FLAG_MOBILE' ? maskPhone(field.value) : field.value });
  }
  for (const field of list(info.custom_field_list)) {
    if (typeof field.name !== 'string' || !field.name) continue;
    const values = Array.isArray(field.value_list) ? field.value_list.filter((v) => typeof v === 'string') : [];
    const value = typeof field.value === 'string' && field.value ? field.value : values.join('、');
    if (value) rows.push({ label: field.name, value });
  }
  return rows;
}
