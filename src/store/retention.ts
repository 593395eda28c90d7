import Joi from 'joi';
import type { Doc } from '../options/declare.js';

// How long each kind of record is kept (issue 18), declared once: the store options and serve's
// variables (src/server/config.ts) are read from here; docs/stores.md's table says the same.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** A duration: ms as a number, or a string with a unit ('500ms', '30s', '15m', '12h', '30d'). */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY };
const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** ms from a Duration; undefined when it is not one (a negative, fractional or unitless string). */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * (UNITS[match[2] as string] as number);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** A Joi check for a Duration (kept as given: the engine reads it with durationMs). */
export const durationSchema = Joi.any()
  .custom((value: unknown, helpers) => (durationMs(value) === undefined ? helpers.error('duration.base') : value))
  .messages({ 'duration.base': 'must be ms (a whole number ≥ 0) or a duration like "30d", "12h", "15m", "30s"' });

/** What a retention pass may delete, in ms; 0 for the journal keeps it forever. */
export interface RetentionLimits {
  /** Notification de-duplication records, counted from their receipt. */
  notificationsMs: number;
  /** Top-up orders that ended (credited or closed), counted from their creation. */
  topupsMs: number;
  /**
   * Finished journal entries (applied / failed), their audit lines, and failed top-up orders,
   * counted from when they finished; 0 keeps them forever. Pending entries are never pruned.
   */
  journalMs: number;
}

/** The `retention` store option. */
export interface RetentionOptions {
  notifications?: Duration;
  topups?: Duration;
  journal?: Duration;
  /** Rows deleted per statement (default 500): a pass deletes in batches and yields between them. */
  batch?: number;
}

interface RetentionSpec extends Doc {
  default: Duration;
}

/** Each retention: its default and its doc line (serve's variables for them are in src/server/). */
export const RETENTION = {
  notifications: {
    default: '30d',
    en:
      'how long a processed notification id is remembered to drop redeliveries; WeChat Pay redelivers an ' +
      'unacknowledged one for about 24 h (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h)',
    zh:
      '已处理通知的 id 保留多久，用于丢弃重发；未应答的通知微信支付约重发 24 小时' +
      '（15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h）',
  },
  topups: {
    default: '400d',
    en:
      'how long a credited or closed top-up order is kept after it was made (WeChat Pay takes refunds for a ' +
      'year after payment, so the default keeps a year and a month)',
    zh: '已入账或已关单的充值订单自下单起保留多久（微信支付可在支付后一年内退款，默认保留一年零一个月）',
  },
  journal: {
    default: 0,
    en:
      'how long finished merchant operations, their audit lines and failed top-ups are kept; `0` keeps them ' +
      'forever. A requestId older than this is forgotten: reusing it makes a new change',
    zh:
      '已完成的商户操作、其审计记录及失败的充值订单保留多久；`0` 表示永久保留。' +
      '超过此时长的 requestId 会被遗忘：再次使用将产生新的变更',
  },
} as const satisfies Record<'notifications' | 'topups' | 'journal', RetentionSpec>;

export const DEFAULT_PRUNE_BATCH = 500;

/** The `retention` option's schema, shared by every engine. */
export const retentionSchema = Joi.object({
  notifications: durationSchema,
  topups: durationSchema,
  journal: durationSchema,
  batch: Joi.number().integer().min(1).max(10_000),
});

/** The limits a store runs with, defaults filled in. */
export function retentionLimits(options: RetentionOptions = {}): RetentionLimits {
  const ms = (given: Duration | undefined, fallback: Duration): number => durationMs(given ?? fallback) ?? 0;
  return {
    notificationsMs: ms(options.notifications, RETENTION.notifications.default),
    topupsMs: ms(options.topups, RETENTION.topups.default),
    journalMs: ms(options.journal, RETENTION.journal.default),
  };
}

/** What one prune call deleted, per kind (each at most `batch`). */
export interface PruneCounts {
  notifications: number;
  outerStrs: number;
  sessions: number;
  memberCodes: number;
  topups: number;
  operations: number;
  audit: number;
  /** Expired locks and rate-limit buckets. */
  leases: number;
}

export const PRUNE_KINDS = [
  'notifications',
  'outerStrs',
  'sessions',
  'memberCodes',
  'topups',
  'operations',
  'audit',
  'leases',
] as const satisfies readonly (keyof PruneCounts)[];

export function noCounts(): PruneCounts {
  return { notifications: 0, outerStrs: 0, sessions: 0, memberCodes: 0, topups: 0, operations: 0, audit: 0, leases: 0 };
}

/** The cut-offs of one pass: rows at or before them go. -1 matches nothing (journal kept forever). */
export function cutoffs(
  now: number,
  limits: RetentionLimits,
): { notifications: number; topups: number; journal: number } {
  return {
    notifications: now - limits.notificationsMs,
    topups: now - limits.topupsMs,
    journal: limits.journalMs > 0 ? now - limits.journalMs : -1,
  };
}
