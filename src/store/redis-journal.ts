/**
 * The Redis store's journal of merchant operations, in steps that each touch one hash tag.
 * An entry lives in its card code's slot, with the card's pending set, audit trail and lock (the
 * card's keys are tagged with the lock's name), so the fenced insert and the finish are one script
 * each. getOperation(cardId, requestId) does not know the code: an index in a slot of its own
 * names it, claimed before the entry is written. A crash between claim and insert leaves a claim
 * that the retry (same requestId, same code) completes.
 */
import { auditOf } from './rows.js';
import type { RedisContext } from './redis-bindings.js';
import type * as T from './types.js';

/** The immutable part of a journal entry, as stored in the op hash's body field. */
type OperationBody = Omit<T.Operation, 'state' | 'error' | 'updatedAt'>;

/**
 * A claim whose entry was never written passes to another code only after this long: more than
 * the longest card lock lease (operations.lockTtlMs, at most 10 min), so that entry's fenced insert
 * can no longer happen.
 */
const CLAIM_TAKEOVER_MS = 15 * 60_000;

function toOperation(h: Record<string, string>): T.Operation | undefined {
  if (!h['body']) return undefined;
  const op: T.Operation = {
    ...(JSON.parse(h['body']) as OperationBody),
    state: h['state'] as T.Operation['state'],
    updatedAt: Number(h['updatedAt']),
  };
  if (h['errorCode']) op.error = { code: h['errorCode'], message: h['errorMessage'] ?? '' };
  return op;
}

async function readEntry(ctx: RedisContext, cardId: string, code: string, requestId: string) {
  return toOperation(await ctx.run((r) => r.hgetall(ctx.keys.operation(cardId, code, requestId))));
}

/** The code whose slot holds (cardId, requestId), if claimed. */
const indexedCode = (ctx: RedisContext, cardId: string, requestId: string): Promise<string | null> =>
  ctx.run((r) => r.hget(ctx.keys.operationIndex(cardId, requestId), 'code'));

export async function getOperation(ctx: RedisContext, cardId: string, requestId: string) {
  const code = await indexedCode(ctx, cardId, requestId);
  return code === null ? undefined : readEntry(ctx, cardId, code, requestId);
}

export async function insertOperation(
  ctx: RedisContext,
  operation: T.Operation,
  fence: { lock: string; token: string },
): Promise<T.InsertOperationResult> {
  const { keys } = ctx;
  const { cardId, requestId, code } = operation;
  const exists = async (under: string): Promise<T.InsertOperationResult | undefined> => {
    const found = await readEntry(ctx, cardId, under, requestId);
    return found && { outcome: 'exists', operation: found };
  };
  const known = await indexedCode(ctx, cardId, requestId);
  if (known !== null && known !== code) {
    const found = await exists(known);
    if (found) return found;
  }
  const lockKey = keys.lock(fence.lock);
  // The card's own lock sits in the card's slot and is checked in the insert itself; any other
  // lock is checked just before.
  const lockInSlot = keys.cardTag(cardId, code) === keys.lockTag(fence.lock);
  if (!lockInSlot && (await ctx.run((r) => r.get(lockKey))) !== fence.token) {
    return (await exists(code)) ?? { outcome: 'lock_lost' };
  }
  const claimed = await ctx.run((r) =>
    r.mcClaimOp(keys.operationIndex(cardId, requestId), code, Date.now(), CLAIM_TAKEOVER_MS),
  );
  // Another code's claim, whose entry is not (yet) written: its writer holds that card's lock.
  if (claimed !== code) return (await exists(claimed)) ?? { outcome: 'lock_lost' };
  const opKey = keys.operation(cardId, code, requestId);
  const { state, error, updatedAt, ...body } = operation;
  // A failed entry written directly (refused before anything was sent) keeps its reason.
  const result = await ctx.run((r) =>
    r.mcInsertOp(
      opKey,
      lockInSlot ? lockKey : opKey,
      keys.pendingOps(cardId, code),
      JSON.stringify(body),
      fence.token,
      requestId,
      operation.createdAt,
      state,
      updatedAt,
      error?.code ?? '',
      error?.message ?? '',
      lockInSlot ? '1' : '0',
    ),
  );
  if (result === 2) return { outcome: 'lock_lost' };
  await ctx.run((r) => r.hset(keys.operationIndex(cardId, requestId), 'written', '1'));
  if (result === 1) return { outcome: 'inserted' };
  return (await exists(code)) ?? { outcome: 'lock_lost' };
}

export async function finishOperation(
  ctx: RedisContext,
  cardId: string,
  requestId: string,
  outcome: T.OperationOutcome,
): Promise<T.FinishOperationResult> {
  const current = await getOperation(ctx, cardId, requestId);
  if (!current || current.state !== 'pending') return { changed: false, operation: current };
  const now = Date.now();
  const error = outcome.state === 'failed' ? outcome.error : undefined;
  const { keys } = ctx;
  // The body never changes, so the audit line can be built here; the script decides atomically.
  const changed = await ctx.run((r) =>
    r.mcFinishOp(
      keys.operation(cardId, current.code, requestId),
      keys.pendingOps(cardId, current.code),
      keys.audit(cardId, current.code),
      outcome.state,
      error?.code ?? '',
      error?.message ?? '',
      now,
      requestId,
      JSON.stringify(auditOf(current, now)),
    ),
  );
  return { changed: changed === 1, operation: await readEntry(ctx, cardId, current.code, requestId) };
}

export async function listPendingOperations(ctx: RedisContext, cardId: string, code: string): Promise<T.Operation[]> {
  const ids = await ctx.run((r) => r.zrange(ctx.keys.pendingOps(cardId, code), 0, -1));
  const ops = await Promise.all(ids.map((id) => readEntry(ctx, cardId, code, id)));
  return ops.filter((op): op is T.Operation => op !== undefined && op.state === 'pending');
}
