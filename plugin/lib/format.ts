// What the card's numbers and states look like to a user.

/** Fen (an integer) as yuan: 888 → "¥8.88", 123456 → "¥1,234.56". */
export function formatFen(fen: unknown): string {
  if (typeof fen !== 'number' || !Number.isInteger(fen)) return '—';
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const yuan = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = String(abs % 100).padStart(2, '0');
  return `${sign}¥${yuan}.${cents}`;
}

/** Fen as a price tag: 10000 → "¥100", 150 → "¥1.50". */
export function formatPrice(fen: number): string {
  return fen % 100 === 0 ? `¥${fen / 100}` : formatFen(fen);
}

export function formatPoints(points: unknown): string {
  return typeof points === 'number' && Number.isFinite(points) ? String(points) : '—';
}

/** WeChat Pay's user_card_status, in the words a user reads. */
export const STATUS_NAMES: Record<string, string> = {
  NOT_ACTIVATE: '未激活',
  EFFECTIVE: '正常',
  EXPIRE: '已过期',
  UNAVAILABLE: '已失效',
  DELETE: '已删除',
};

export function statusName(status: unknown): string {
  if (typeof status !== 'string' || !status) return '状态未知';
  return STATUS_NAMES[status] ?? '状态未知';
}
