import type { TopupOrder } from './types.js';

// Top-up orders in the SQL engines (SQLite and PostgreSQL share the shape): the whole order as JSON
// text, plus the columns the atomic steps select on (reuse, due, compare-and-set).

export interface TopupRow {
  data: string;
  version: number | string;
}

/** The columns of an insert, in the order topupParams() gives them. */
export const TOPUP_COLUMNS =
  'card_id, out_trade_no, openid, code, amount, state, next_check_at, created_at, version, data';

export function topupParams(order: TopupOrder): unknown[] {
  return [
    order.cardId,
    order.outTradeNo,
    order.openid,
    order.code,
    order.amount,
    order.state,
    order.nextCheckAt ?? null,
    order.createdAt,
    order.version,
    JSON.stringify(order),
  ];
}

/** The stored order; its version is the column's (the one compare-and-set checks). */
export function toTopup(row: TopupRow): TopupOrder {
  return { ...(JSON.parse(row.data) as TopupOrder), version: Number(row.version) };
}
