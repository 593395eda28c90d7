// My history as the member reads it: one line per change, newest first.
import { formatFen } from './format';

/** One item of `GET /history`. */
export interface HistoryItem {
  kind: string;
  amount?: number;
  balanceAfter?: number;
  pointsAfter?: number;
  level?: string;
  remark?: string;
  at: string;
}

export interface HistoryPage {
  items: HistoryItem[];
  next: string | null;
}

export interface HistoryLine {
  key: string;
  title: string;
  when: string;
  change: string;
  /** 'up', 'down' or '' (for the colour). */
  trend: string;
  after: string;
}

const two = (n: number) => String(n).padStart(2, '0');

/** Local date and time, 2026-11-28 14:05. */
export function formatWhen(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

const signed = (n: number, text: string) => (n > 0 ? `+${text}` : text);

export function historyLine(item: HistoryItem, index: number): HistoryLine {
  const amount = typeof item.amount === 'number' ? item.amount : 0;
  const line: HistoryLine = {
    key: `${item.at}#${index}`,
    title: item.remark || '',
    when: formatWhen(item.at),
    change: '',
    trend: amount > 0 ? 'up' : amount < 0 ? 'down' : '',
    after: '',
  };
  if (item.kind === 'balance') {
    line.title ||= amount >= 0 ? '余额充值' : '余额消费';
    line.change = signed(amount, formatFen(amount));
    if (typeof item.balanceAfter === 'number') line.after = `余额 ${formatFen(item.balanceAfter)}`;
  } else if (item.kind === 'points') {
    line.title ||= amount >= 0 ? '获得积分' : '使用积分';
    line.change = `${signed(amount, String(amount))} 积分`;
    if (typeof item.pointsAfter === 'number') line.after = `积分 ${item.pointsAfter}`;
  } else if (item.kind === 'level') {
    line.title ||= '会员等级变更';
    line.change = item.level || '';
  } else {
    line.title ||= '会员卡变更';
  }
  return line;
}
