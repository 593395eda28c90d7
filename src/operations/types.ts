import type { Context } from 'koa';
import type { AuditEntry, Operation, UserIdentity } from '../store/types.js';
import type { SweepReport } from './sweep.js';

/** Which card: a card code directly, or a user resolved through the same bindings as the user routes. */
export type CardTarget =
  | { code: string; user?: never; ctx?: never }
  | {
      user: UserIdentity;
      code?: never;
      /** Passed to the merchant's resolveCode hook, when the request came in through Koa. */
      ctx?: Context;
    };

interface Common {
  /**
   * The caller's idempotency key, 1–64 of [A-Za-z0-9_-]: the same id always yields the same
   * recorded outcome and changes the card at most once. Use a new one for a new change.
   */
  requestId: string;
  /** Who asks (a cashier, "admin", a job name); kept in the journal and the audit trail. ≤ 64 characters. */
  actor?: string;
}

/** adjustBalance / adjustPoints: a signed change in fen (分) or points. */
export type AdjustInput = CardTarget &
  Common & {
    /** Non-zero safe integer: positive adds (top-up, award), negative takes (purchase, redeem). */
    amount: number;
    /**
     * ≤ 100 characters, kept in the journal and audit trail. Balance: also sent as balance_remark,
     * which WeChat shows the user. Points: never sent (WeChat Pay's points API has no remark).
     */
    remark?: string;
  };

export type SetLevelInput = CardTarget &
  Common & {
    /** ≤ 5 characters, e.g. 钻石会员. */
    level: string;
  };

export type SetMembershipNumberInput = CardTarget &
  Common & {
    /** ≤ 32 of digits, letters and half-width punctuation. */
    membershipNumber: string;
  };

export type HistoryInput = CardTarget & {
  /** Newest first, at most this many (default 50, at most 500). */
  limit?: number;
};

/**
 * Merchant operations on member cards: exact under retries, races, timeouts and restarts.
 * Each resolves with the journal entry of the applied change (the same entry for every call with
 * the same requestId), or rejects with a MemberCardError: the recorded refusal
 * (INSUFFICIENT_BALANCE, CARD_NOT_EDITABLE, INVALID_REQUEST, CARD_NOT_FOUND), OPERATION_CONFLICT
 * for a requestId reused with other parameters, or a retryable one (UPSTREAM_TIMEOUT,
 * UPSTREAM_BUSY, RATE_LIMITED, UPSTREAM_ERROR, CARD_BUSY, STORE_UNAVAILABLE): then retry with the
 * same requestId, which finishes the same change rather than making a second one.
 */
export interface Operations {
  adjustBalance(input: AdjustInput): Promise<Operation>;
  adjustPoints(input: AdjustInput): Promise<Operation>;
  setLevel(input: SetLevelInput): Promise<Operation>;
  setMembershipNumber(input: SetMembershipNumberInput): Promise<Operation>;
  /** The journal entry of a requestId (pending, applied or failed), if any. */
  get(requestId: string): Promise<Operation | undefined>;
  /** The audit trail of one card: the changes WeChat Pay applied, newest first. */
  history(input: HistoryInput): Promise<AuditEntry[]>;
  /**
   * Settles, now, entries left pending longer than `sweepAfterMs` (re-sent with the same
   * out_request_no, or reconciled from the card), and reconciles due top-ups; what the background
   * sweep does every `sweepEveryMs`. One instance at a time: `ran` is false when another holds it.
   */
  sweep(): Promise<SweepReport>;
}

export interface OperationsSettings {
  /** Lease of the per-card lock, ms; renewed while held, so it only matters after a crash. */
  lockTtlMs: number;
  /** How long a call waits for a busy card before CARD_BUSY, ms. */
  lockWaitMs: number;
  /** An entry pending this long is settled by the sweep, ms. */
  sweepAfterMs: number;
  /** How often the background sweep runs, ms; 0: only cards.operations.sweep(). */
  sweepEveryMs: number;
}
