import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { ERRORS, MemberCardError, type ErrorCode, type ErrorDetail } from '../errors.js';
import { ownedBy, resolveCode, type ResolvedCode } from '../identity.js';
import type { Runtime } from '../runtime.js';
import { cardLockName } from '../store/redis-keys.js';
import type { BindingStore, JournalStore, Operation, OperationKind, UserIdentity } from '../store/types.js';
import type { UpstreamCard } from '../wechatpay/types.js';
import { CardLocks, type HeldLock } from './lock.js';
import { createSweeper, type Sweeper } from './sweep.js';
import type {
  AdjustInput,
  CardTarget,
  HistoryInput,
  Operations,
  OperationsSettings,
  SetLevelInput,
  SetMembershipNumberInput,
} from './types.js';
import * as v from './validate.js';

/** What one call asks for, validated; compared field by field with a journal entry of the same requestId. */
interface Request {
  kind: OperationKind;
  requestId: string;
  amount?: number;
  value?: string;
  remark?: string;
  actor?: string;
}

/**
 * WeChat Pay's out_request_no for a requestId: 32 hex characters of SHA-256 over the card and the
 * requestId. Deterministic, so a retry after a crash or a timeout re-sends the very same number
 * and WeChat Pay recognises it; unique per card template, so two cards cannot collide.
 */
export function outRequestNo(cardId: string, requestId: string): string {
  return createHash('sha256').update(`membercard-op\n${cardId}\n${requestId}`).digest('hex').slice(0, 32);
}

/** Upstream answers that say for sure the change was NOT made; anything else leaves it pending. */
const DEFINITE_REFUSALS = new Set<ErrorCode>(['INVALID_REQUEST', 'CARD_NOT_FOUND']);

function recordedError(op: Operation): MemberCardError {
  const code = op.error && op.error.code in ERRORS ? (op.error.code as ErrorCode) : 'INTERNAL_ERROR';
  const details: ErrorDetail[] | undefined =
    code === 'INSUFFICIENT_BALANCE' ? [{ field: 'amount', issue: 'the result would be below zero' }] : undefined;
  return new MemberCardError(code, op.error?.message ?? 'The change was refused.', details ? { details } : {});
}

/** The outcome a journal entry stands for: the entry when applied, its recorded error when failed. */
function outcome(op: Operation): Operation {
  if (op.state === 'failed') throw recordedError(op);
  return op;
}

/** 409 when a requestId comes back with other parameters than the ones it was recorded with. */
function checkSame(op: Operation, code: string, req: Request): void {
  const differs: string[] = [];
  if (op.code !== code) differs.push('code');
  if (op.kind !== req.kind) differs.push('kind');
  if (op.amount !== req.amount) differs.push('amount');
  if (op.value !== req.value) differs.push(req.kind === 'level' ? 'level' : 'membershipNumber');
  if (op.remark !== req.remark) differs.push('remark');
  if (differs.length) {
    throw new MemberCardError('OPERATION_CONFLICT', `requestId ${req.requestId} was already used for another change.`, {
      details: differs.map((field) => ({ field, issue: 'differs from the change recorded under this requestId' })),
    });
  }
}

/** The card's current value of what `kind` changes. */
function currentValue(card: UpstreamCard, kind: OperationKind): number | string | undefined {
  switch (kind) {
    case 'balance':
      return card.balance ?? 0;
    case 'points':
      return card.bonus_value ?? 0;
    case 'level':
      return card.level || undefined;
    case 'membership_number':
      return card.membership_number || undefined;
  }
}

/** What memberCard() holds: the operations, and the sweep's controls (top-ups, timer). */
export interface OperationsService extends Operations {
  readonly sweeper: Sweeper;
}

export function createOperations(rt: Runtime, settings: OperationsSettings): OperationsService {
  const { cardId } = rt.options;
  const locks = new CardLocks(settings);
  // The sweep settles through the same path as a new change to the card: under its lock, settlePending.
  const sweeper = createSweeper(rt, settings, async (code) => {
    const store = await rt.store();
    await locks.run(store, `card:${cardId}:${code}`, () => settlePending(store, code));
  });

  function notifyChanged(code: string): void {
    try {
      rt.onCardChanged?.(cardId, code);
    } catch {
      // A cache hook must not turn an applied change into an error.
    }
  }

  async function resolveTarget(
    store: BindingStore,
    target: { code: string } | { user: UserIdentity },
    ctx: Context | undefined,
  ): Promise<ResolvedCode> {
    if ('code' in target) return { code: target.code };
    const resolved = await resolveCode(ctx, target.user, {
      cardId,
      store,
      resolveCode: rt.options.resolveCode,
      log: rt.log,
    });
    if (!resolved) throw new MemberCardError('CARD_NOT_FOUND', 'This user has no member card.');
    return resolved;
  }

  /**
   * Sends a prepared entry's change (the first time, or again with the same out_request_no and
   * numbers) and records what WeChat Pay said. Resolves with the final entry, or rejects with the
   * upstream error when the outcome is unknown (timeout, 5xx, reset): the entry stays pending.
   */
  async function send(store: JournalStore, op: Operation): Promise<Operation> {
    try {
      if (op.kind === 'points') {
        // The points API has no remark field: a remark stays in our journal and audit trail.
        await rt.client.updateRights(cardId, op.code, {
          out_request_no: op.outRequestNo,
          before_bonus_value: op.before as number,
          bonus_value: op.after as number,
          add_bonus_value: op.amount as number,
        });
      } else {
        await rt.client.updateCard(cardId, op.code, {
          out_request_no: op.outRequestNo,
          ...(op.kind === 'balance'
            ? {
                balance_information: {
                  before_balance: op.before as number,
                  balance: op.after as number,
                  add_balance: op.amount as number,
                  ...(op.remark !== undefined ? { balance_remark: op.remark } : {}),
                },
              }
            : op.kind === 'level'
              ? { level: op.after as string }
              : { membership_number: op.after as string }),
        });
      }
    } catch (err) {
      if (err instanceof MemberCardError && DEFINITE_REFUSALS.has(err.code)) {
        // A refusal may follow an attempt whose answer was lost: WeChat Pay may then refuse the
        // re-sent out_request_no as used (undocumented; the sandbox's replayAnswer 400). The card
        // tells: holding the value after, the change was applied; the value before, it was not.
        const verdict = await reconcile(op);
        if (verdict === 'applied') return applied(store, op, 'operation applied (reconciled from the card)');
        if (verdict === 'unknown') {
          notifyChanged(op.code);
          rt.log('error', 'operation outcome unknown: the card holds neither the value before nor after', {
            kind: op.kind,
            requestId: op.requestId,
          });
          throw new MemberCardError('UPSTREAM_ERROR', 'The outcome of the change is not known yet. Try again.');
        }
        const { operation } = await store.finishOperation(cardId, op.requestId, {
          state: 'failed',
          error: { code: err.code, message: err.message },
        });
        rt.log('warn', 'operation refused by WeChat Pay', { kind: op.kind, requestId: op.requestId, code: err.code });
        return operation ?? { ...op, state: 'failed', error: { code: err.code, message: err.message } };
      }
      // It may have been applied: whatever caches the card must read it again.
      notifyChanged(op.code);
      rt.log('warn', 'operation outcome unknown; kept pending for a retry with the same requestId', {
        kind: op.kind,
        requestId: op.requestId,
        code: err instanceof MemberCardError ? err.code : 'UNKNOWN',
      });
      throw err;
    }
    return applied(store, op, 'operation applied');
  }

  async function applied(store: JournalStore, op: Operation, message: string): Promise<Operation> {
    const { operation, changed } = await store.finishOperation(cardId, op.requestId, { state: 'applied' });
    notifyChanged(op.code);
    if (changed) rt.log('info', message, { kind: op.kind, requestId: op.requestId });
    return operation ?? op;
  }

  /**
   * Whether a refused change is on the card after all, read afresh: 'applied' when it holds the
   * value after, 'not_applied' when it holds the value before (or no longer exists), 'unknown'
   * when it holds another (changed outside this journal). A failed read leaves it pending.
   */
  async function reconcile(op: Operation): Promise<'applied' | 'not_applied' | 'unknown'> {
    let card: UpstreamCard;
    try {
      card = await rt.client.getCard(cardId, op.code);
    } catch (err) {
      if (err instanceof MemberCardError && err.code === 'CARD_NOT_FOUND') return 'not_applied';
      notifyChanged(op.code);
      throw err;
    }
    const value = currentValue(card, op.kind);
    if (value === op.after) return 'applied';
    if (value === op.before) return 'not_applied';
    return 'unknown';
  }

  /**
   * Settles every pending entry of the card before anything new is computed from a fresh read:
   * a change that may have been applied must be known before the next "before" value is.
   */
  async function settlePending(store: JournalStore, code: string): Promise<void> {
    for (const op of await store.listPendingOperations(cardId, code)) await send(store, op);
  }

  /** Under the card's lock: read, compute, journal (fenced), send, record. */
  async function prepareAndSend(
    store: JournalStore & BindingStore,
    held: HeldLock,
    target: ResolvedCode,
    req: Request,
  ): Promise<Operation> {
    const { code, oaOpenid, binding } = target;
    let card: UpstreamCard;
    try {
      card = await rt.client.getCard(cardId, code);
    } catch (err) {
      // WeChat Pay knows no such code: the binding that led here is wrong, so it is not used again.
      if (binding && err instanceof MemberCardError && err.code === 'CARD_NOT_FOUND') {
        await store.flagBinding(binding.cardId, binding.code);
        rt.log('warn', 'card code unknown to WeChat Pay; binding flagged', { cardId });
      }
      throw err;
    }
    if (!ownedBy(card, cardId, oaOpenid)) {
      rt.log('warn', 'card does not belong to the binding', { cardId });
      throw new MemberCardError('CARD_NOT_FOUND', 'This user has no member card.');
    }
    const before = currentValue(card, req.kind);
    const numeric = req.kind === 'balance' || req.kind === 'points';
    const after = numeric ? (before as number) + (req.amount as number) : (req.value as string);
    let refusal: { code: ErrorCode; message: string } | undefined;
    if (card.user_card_status !== 'EFFECTIVE') {
      refusal = {
        code: 'CARD_NOT_EDITABLE',
        message: `The card cannot be changed while its status is ${card.user_card_status ?? 'unknown'}.`,
      };
    } else if (numeric && (after as number) < 0) {
      const what = req.kind === 'balance' ? 'balance' : 'points';
      refusal = {
        code: 'INSUFFICIENT_BALANCE',
        message: `Not enough ${what}: ${String(before)} available, ${String(-(req.amount as number))} needed.`,
      };
    } else if (numeric && !Number.isSafeInteger(after)) {
      refusal = { code: 'INVALID_REQUEST', message: 'The result would be too large.' };
    }
    const now = Date.now();
    const op: Operation = {
      cardId,
      requestId: req.requestId,
      code,
      kind: req.kind,
      state: refusal ? 'failed' : 'pending',
      outRequestNo: outRequestNo(cardId, req.requestId),
      after,
      createdAt: now,
      updatedAt: now,
    };
    if (req.amount !== undefined) op.amount = req.amount;
    if (req.value !== undefined) op.value = req.value;
    if (req.remark !== undefined) op.remark = req.remark;
    if (req.actor !== undefined) op.actor = req.actor;
    if (before !== undefined) op.before = before;
    if (refusal) op.error = refusal;

    const inserted = await store.insertOperation(op, held);
    if (inserted.outcome === 'lock_lost')
      throw new MemberCardError('CARD_BUSY', 'The card lock was lost; nothing was changed. Try again.', {
        retryAfter: 1,
      });
    if (inserted.outcome === 'exists') {
      checkSame(inserted.operation, code, req);
      if (inserted.operation.state === 'pending') return outcome(await send(store, inserted.operation));
      return outcome(inserted.operation);
    }
    // Refused before anything was sent: recorded, so a retry gets the same answer.
    if (refusal) return outcome(op);
    return outcome(await send(store, op));
  }

  async function run(target: CardTarget, req: Request): Promise<Operation> {
    const store = await rt.store();
    const resolved = await resolveTarget(store, v.target(target), 'user' in target ? target.ctx : undefined);
    const { code } = resolved;
    // Fast path: a finished requestId answers from the journal without touching the card.
    const known = await store.getOperation(cardId, req.requestId);
    if (known) {
      checkSame(known, code, req);
      if (known.state !== 'pending') return outcome(known);
    }
    // Named as the Redis store tags a card's keys, so its fenced insert stays in one slot.
    return locks.run(store, cardLockName(cardId, code), async (held) => {
      await settlePending(store, code);
      const settled = await store.getOperation(cardId, req.requestId);
      if (settled) {
        checkSame(settled, code, req);
        return outcome(settled);
      }
      return prepareAndSend(store, held, resolved, req);
    });
  }

  const common = (input: { requestId?: unknown; actor?: unknown }) => {
    const actor = v.optionalText('actor', input.actor, 64);
    return { requestId: v.requestId(input.requestId), ...(actor !== undefined ? { actor } : {}) };
  };

  const adjust =
    (kind: 'balance' | 'points') =>
    async (input: AdjustInput): Promise<Operation> => {
      const remark = v.optionalText('remark', input.remark, 100);
      const req: Request = {
        kind,
        ...common(input),
        amount: v.amount(input.amount),
        ...(remark !== undefined ? { remark } : {}),
      };
      v.target(input);
      return run(input, req);
    };

  return {
    sweeper,
    sweep: () => sweeper.sweep(),
    adjustBalance: adjust('balance'),
    adjustPoints: adjust('points'),
    async setLevel(input: SetLevelInput) {
      const req: Request = { kind: 'level', ...common(input), value: v.level(input.level) };
      v.target(input);
      return run(input, req);
    },
    async setMembershipNumber(input: SetMembershipNumberInput) {
      const req: Request = {
        kind: 'membership_number',
        ...common(input),
        value: v.membershipNumber(input.membershipNumber),
      };
      v.target(input);
      return run(input, req);
    },
    async get(requestId: string) {
      return (await rt.store()).getOperation(cardId, v.requestId(requestId));
    },
    async history(input: HistoryInput) {
      const limit = v.limit(input.limit);
      const store = await rt.store();
      const { code } = await resolveTarget(store, v.target(input), 'user' in input ? input.ctx : undefined);
      return store.listAudit(cardId, code, limit);
    },
  };
}
