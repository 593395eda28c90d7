import type { Binding, BindingStatus, NotificationRecord, Session } from './types.js';

/** Row shapes shared by the SQL engines (SQLite and PostgreSQL use the same column names). */
export interface BindingRow {
  card_id: string;
  code: string;
  unionid: string | null;
  oa_openid: string | null;
  user_openid: string | null;
  status: string;
  created_at: number | string;
  updated_at: number | string;
}

export interface NotificationRow {
  id: string;
  event_type: string;
  card_id: string | null;
  code: string | null;
  received_at: number | string;
}

export interface SessionRow {
  openid: string;
  unionid: string | null;
  expires_at: number | string;
}

// pg returns BIGINT as a string (it may exceed 2^53); ms timestamps never do.
const ms = (v: number | string): number => Number(v);

/** Optional fields are left out rather than set to undefined, so every engine returns equal objects. */
export function toBinding(row: BindingRow): Binding {
  const binding: Binding = {
    cardId: row.card_id,
    code: row.code,
    status: row.status as BindingStatus,
    createdAt: ms(row.created_at),
    updatedAt: ms(row.updated_at),
  };
  if (row.unionid != null) binding.unionid = row.unionid;
  if (row.oa_openid != null) binding.oaOpenid = row.oa_openid;
  if (row.user_openid != null) binding.userOpenid = row.user_openid;
  return binding;
}

export function toNotification(row: NotificationRow): NotificationRecord {
  const record: NotificationRecord = { id: row.id, eventType: row.event_type, receivedAt: ms(row.received_at) };
  if (row.card_id != null) record.cardId = row.card_id;
  if (row.code != null) record.code = row.code;
  return record;
}

export function toSession(row: SessionRow): Session {
  const session: Session = { openid: row.openid, expiresAt: ms(row.expires_at) };
  if (row.unionid != null) session.unionid = row.unionid;
  return session;
}
