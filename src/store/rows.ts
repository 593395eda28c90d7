import type {
  AuditEntry,
  AuditKind,
  AuditPage,
  MemberCodeEntry,
  Binding,
  BindingStatus,
  NotificationRecord,
  Operation,
  OperationKind,
  OperationState,
  Session,
} from './types.js';

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

export interface OperationRow {
  card_id: string;
  request_id: string;
  code: string;
  kind: string;
  amount: number | string | null;
  value: string | null;
  remark: string | null;
  actor: string | null;
  state: string;
  out_request_no: string;
  before_value: string | null;
  after_value: string;
  error_code: string | null;
  error_message: string | null;
  created_at: number | string;
  updated_at: number | string;
}

export interface AuditRow {
  card_id: string;
  code: string;
  request_id: string;
  kind: string;
  actor: string | null;
  amount: number | string | null;
  value: string | null;
  remark: string | null;
  before_value: string | null;
  after_value: string;
  at: number | string;
}

/** before / after are numbers (balance, points) or strings (level, membership number): kept as JSON text. */
export const encodeValue = (v: number | string | undefined): string | null =>
  v === undefined ? null : JSON.stringify(v);
const decodeValue = (v: string | null): number | string | undefined =>
  v == null ? undefined : (JSON.parse(v) as number | string);

/** The columns of an operation, in the order the SQL engines insert them. */
export function operationParams(op: Operation): unknown[] {
  return [
    op.cardId,
    op.requestId,
    op.code,
    op.kind,
    op.amount ?? null,
    op.value ?? null,
    op.remark ?? null,
    op.actor ?? null,
    op.state,
    op.outRequestNo,
    encodeValue(op.before),
    encodeValue(op.after),
    op.error?.code ?? null,
    op.error?.message ?? null,
    op.createdAt,
    op.updatedAt,
  ];
}

export const OPERATION_COLUMNS =
  'card_id, request_id, code, kind, amount, value, remark, actor, state, out_request_no, before_value, after_value, ' +
  'error_code, error_message, created_at, updated_at';

/** The columns of an audit line, in the order auditParams() gives them. */
export const AUDIT_COLUMNS =
  'card_id, code, request_id, kind, actor, amount, value, remark, before_value, after_value, at';

/** The audit line an applied operation leaves, as the SQL engines insert it. */
export function auditParams(op: Operation, at: number): unknown[] {
  return [
    op.cardId,
    op.code,
    op.requestId,
    op.kind,
    op.actor ?? null,
    op.amount ?? null,
    op.value ?? null,
    op.remark ?? null,
    encodeValue(op.before),
    encodeValue(op.after),
    at,
  ];
}

/** An audit line as the SQL engines insert it, from the entry itself (a merchant's bind has no operation). */
export function auditEntryParams(entry: AuditEntry): unknown[] {
  return [
    entry.cardId,
    entry.code,
    entry.requestId,
    entry.kind,
    entry.actor ?? null,
    entry.amount ?? null,
    entry.value ?? null,
    entry.remark ?? null,
    encodeValue(entry.before),
    encodeValue(entry.after),
    entry.at,
  ];
}

/** The binding columns, in the order bindingParams() gives them. */
export const BINDING_COLUMNS = 'card_id, code, unionid, oa_openid, user_openid, status, created_at, updated_at';

export function bindingParams(b: Binding): unknown[] {
  return [
    b.cardId,
    b.code,
    b.unionid ?? null,
    b.oaOpenid ?? null,
    b.userOpenid ?? null,
    b.status,
    b.createdAt,
    b.updatedAt,
  ];
}

/** `(columns) VALUES (?, ?, …)` for SQLite or `(columns) VALUES ($1, $2, …)` for PostgreSQL. */
export function columnsAndValues(columns: string, style: '?' | '$'): string {
  const values = columns.split(',').map((_, i) => (style === '?' ? '?' : `$${i + 1}`));
  return `(${columns}) VALUES (${values.join(', ')})`;
}

/** The columns an operation and its audit line share, with SQL NULL and absent fields left out. */
function sharedFields(
  row: Pick<OperationRow, 'actor' | 'amount' | 'value' | 'remark' | 'before_value'>,
): Pick<Operation, 'actor' | 'amount' | 'value' | 'remark' | 'before'> {
  const fields: ReturnType<typeof sharedFields> = {};
  if (row.amount != null) fields.amount = Number(row.amount);
  if (row.value != null) fields.value = row.value;
  if (row.remark != null) fields.remark = row.remark;
  if (row.actor != null) fields.actor = row.actor;
  const before = decodeValue(row.before_value);
  if (before !== undefined) fields.before = before;
  return fields;
}

export function toOperation(row: OperationRow): Operation {
  const op: Operation = {
    cardId: row.card_id,
    requestId: row.request_id,
    code: row.code,
    kind: row.kind as OperationKind,
    state: row.state as OperationState,
    outRequestNo: row.out_request_no,
    after: decodeValue(row.after_value) as number | string,
    createdAt: ms(row.created_at),
    updatedAt: ms(row.updated_at),
    ...sharedFields(row),
  };
  if (row.error_code != null) op.error = { code: row.error_code, message: row.error_message ?? '' };
  return op;
}

/** The audit entry an applied operation leaves (every engine builds it the same way). */
export function auditOf(op: Operation, at: number): AuditEntry {
  const entry: AuditEntry = {
    cardId: op.cardId,
    code: op.code,
    requestId: op.requestId,
    kind: op.kind,
    after: op.after,
    at,
  };
  if (op.actor !== undefined) entry.actor = op.actor;
  if (op.amount !== undefined) entry.amount = op.amount;
  if (op.value !== undefined) entry.value = op.value;
  if (op.remark !== undefined) entry.remark = op.remark;
  if (op.before !== undefined) entry.before = op.before;
  return entry;
}

export function toAudit(row: AuditRow): AuditEntry {
  return {
    cardId: row.card_id,
    code: row.code,
    requestId: row.request_id,
    kind: row.kind as AuditKind,
    after: decodeValue(row.after_value) as number | string,
    at: ms(row.at),
    ...sharedFields(row),
  };
}

export interface MemberCodeRow {
  card_id: string;
  code: string;
  user_openid: string;
  expires_at: number | string;
}

/** A consumed member code's row, or undefined when it had expired (deleted all the same). */
export function liveMemberCode(row: MemberCodeRow, now: number): MemberCodeEntry | undefined {
  const expiresAt = ms(row.expires_at);
  if (expiresAt <= now) return undefined;
  return { cardId: row.card_id, code: row.code, userOpenid: row.user_openid, expiresAt };
}

export interface AuditPageRow extends AuditRow {
  id: number | string;
}

/** Up to `limit` rows of `limit + 1` read, newest first; the extra one says an older page exists. */
export function auditPage(rows: AuditPageRow[], limit: number): AuditPage {
  const shown = rows.slice(0, limit);
  const page: AuditPage = { entries: shown.map(toAudit) };
  const last = shown.at(-1);
  if (rows.length > limit && last) page.next = Number(last.id);
  return page;
}
