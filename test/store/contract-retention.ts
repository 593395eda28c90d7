// The retention part of the Store contract (issue 18): every engine runs it from contract.ts,
// last, since a pass deletes what outlived its retention everywhere on the shared location.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { pruneAll, PruneRunner, PRUNE_LEASE } from '../../src/store/prune-runner.js';
import type { PruneCounts, RetentionLimits } from '../../src/store/retention.js';
import type {
  NotificationRecord,
  Operation,
  PendingOperationStore,
  RetentionStore,
  Store,
  TopupOrder,
  TopupOrderStore,
} from '../../src/store/types.js';
import type { StoreCommonOptions } from '../../src/store/options.js';
import { sleep } from '../support/poll.js';

export interface RetentionEngine {
  name: string;
  shared: boolean;
  /** True when the engine lets records expire by key TTLs (Redis): prune() then counts only what it deletes itself. */
  ttls: boolean;
  open(options?: StoreCommonOptions): Store;
}

type Full = Store & RetentionStore & PendingOperationStore & TopupOrderStore;

const uid = (): string => randomUUID().replace(/-/g, '').slice(0, 16);
const DAY = 86_400_000;
const quiet = (): void => undefined;

function full(s: Store): Full {
  const f = s as Partial<Full>;
  assert.ok(
    f.prune && f.listStalePendingOperations && f.createTopupOrder,
    'every engine prunes and lists stale operations',
  );
  return s as Full;
}

const note = (receivedAt: number, id = `n-${uid()}`): NotificationRecord => ({
  id,
  eventType: 'MEMBERCARD.ACCEPT_CARD',
  receivedAt,
});

const op = (cardId: string, code: string, createdAt: number): Operation => ({
  cardId,
  requestId: `r-${uid()}`,
  code,
  kind: 'balance',
  amount: 100,
  state: 'pending',
  outRequestNo: uid().padEnd(32, '0'),
  before: 0,
  after: 100,
  createdAt,
  updatedAt: createdAt,
});

const order = (cardId: string, createdAt: number): TopupOrder => ({
  cardId,
  outTradeNo: `T${uid()}`,
  openid: 'mp-payer',
  code: 'C100',
  amount: 100,
  bonus: 0,
  appid: 'wxminiprogram0001',
  mchid: '1900000109',
  description: '会员卡充值 ¥1.00',
  expiresAt: Math.floor((createdAt + 900_000) / 1000) * 1000,
  state: 'pending',
  creditAttempt: 0,
  nextCheckAt: createdAt + 180_000,
  checks: 0,
  createdAt,
  updatedAt: createdAt,
  version: 0,
});

/** Records an operation as the operations module does (fenced insert), and finishes it unless told not to. */
async function journal(s: Full, o: Operation, finish: boolean): Promise<void> {
  const lock = `card:${o.cardId}:${o.code}`;
  const token = uid();
  assert.equal(await s.acquireLock(lock, token, 10_000), true);
  assert.deepEqual(await s.insertOperation(o, { lock, token }), { outcome: 'inserted' });
  await s.releaseLock(lock, token);
  if (finish) assert.equal((await s.finishOperation(o.cardId, o.requestId, { state: 'applied' })).changed, true);
}

export function retentionContract(engine: RetentionEngine, stores: () => { store: Store; other: Store }): void {
  describe('RetentionStore: prune, listStalePendingOperations (issue 18)', () => {
    it('each kind goes after its retention and stays before it; bindings and pending entries stay', async () => {
      const keepMs = 4000;
      const limits: RetentionLimits = { notificationsMs: keepMs, topupsMs: keepMs, journalMs: keepMs };
      const s = full(
        engine.open({ retention: { notifications: keepMs, topups: keepMs, journal: `${keepMs}ms` }, log: quiet }),
      );
      await s.init();
      try {
        const cardId = `pR${uid()}`;
        const t0 = Date.now();
        const n = note(t0);
        assert.equal(await s.applyNotification(n, { kind: 'bind', cardId, code: 'C1' }), true);
        await s.putSession(`sess-${uid()}`, { openid: 'o1', expiresAt: t0 + keepMs });
        await s.putOuterStr(`os${uid()}`, { openid: 'o1' }, t0 + keepMs);
        await s.putMemberCode?.(`mc-${uid()}`, { cardId, code: 'C1', userOpenid: 'o1', expiresAt: t0 + keepMs });
        const ended = order(cardId, t0);
        await s.createTopupOrder(ended, 0);
        const credited: TopupOrder = { ...ended, state: 'credited', balanceAfter: 100 };
        delete credited.nextCheckAt;
        assert.ok(await s.updateTopupOrder(credited));
        const waiting = order(cardId, t0);
        await s.createTopupOrder({ ...waiting, openid: 'mp-other' }, 0);
        const applied = op(cardId, 'C1', t0);
        await journal(s, applied, true);
        const pending = op(cardId, 'C1', t0 + 1);
        await journal(s, pending, false);

        await pruneAll(s, limits, 500);
        assert.ok(await s.getNotification(n.id), 'a notification record stays within its retention');
        assert.ok(await s.getTopupOrder(cardId, ended.outTradeNo), 'an ended top-up stays within its retention');
        assert.ok(
          await s.getOperation(cardId, applied.requestId),
          'a finished operation stays within the journal retention',
        );
        assert.equal((await s.listAudit(cardId, 'C1', 10)).length, 1, 'its audit line stays');

        // Past the retention of the last record written (Redis counts its TTLs from the write).
        const t1 = Date.now();
        await sleep(t1 + keepMs + 100 - Date.now());
        const counts = await pruneAll(s, limits, 500);
        assert.equal(await s.getNotification(n.id), undefined, 'the notification record is gone');
        assert.equal(await s.getTopupOrder(cardId, ended.outTradeNo), undefined, 'the ended top-up is gone');
        assert.equal(await s.getOperation(cardId, applied.requestId), undefined, 'the finished operation is gone');
        assert.deepEqual(await s.listAudit(cardId, 'C1', 10), [], 'its audit line is gone');
        assert.ok(await s.getBinding(cardId, 'C1'), 'a binding is never pruned');
        assert.equal(
          (await s.getOperation(cardId, pending.requestId))?.state,
          'pending',
          'a pending entry is never pruned',
        );
        assert.ok(await s.getTopupOrder(cardId, waiting.outTradeNo), 'a top-up in progress is never pruned');
        if (!engine.ttls) {
          const at = (kind: keyof PruneCounts): number => counts[kind];
          for (const kind of [
            'notifications',
            'sessions',
            'outerStrs',
            'memberCodes',
            'topups',
            'operations',
            'audit',
          ] as const) {
            assert.ok(at(kind) >= 1, `${kind} were deleted by the pass (${at(kind)})`);
          }
        }
      } finally {
        await s.close();
      }
    });

    it('a journal retention of 0 keeps finished operations and their audit lines forever', async () => {
      const { store } = stores();
      const s = full(store);
      const cardId = `pR${uid()}`;
      const o = op(cardId, 'C9', Date.now());
      await journal(s, o, true);
      const century = Date.now() + 100 * 365 * DAY;
      const counts = await pruneAll(s, { notificationsMs: 1, topupsMs: 1, journalMs: 0 }, 500, { now: century });
      assert.equal(counts.operations + counts.audit, 0);
      assert.equal((await s.getOperation(cardId, o.requestId))?.state, 'applied');
      assert.equal((await s.listAudit(cardId, 'C9', 10)).length, 1);
    });

    it('more rows than one batch all go, one batch per call', async () => {
      const { store } = stores();
      const s = full(store);
      const old = Date.now() - 40 * DAY;
      const ids: string[] = [];
      for (let i = 0; i < 11; i++) {
        const chunk = Array.from({ length: 100 }, () => note(old));
        ids.push(...chunk.map((c) => c.id));
        await Promise.all(chunk.map((c) => s.applyNotification(c, { kind: 'none' })));
      }
      let calls = 0;
      const counting: RetentionStore = {
        prune: async (now, limits, batch) => {
          calls++;
          const counts = await s.prune(now, limits, batch);
          assert.ok(counts.notifications <= batch, 'one call deletes at most one batch');
          return counts;
        },
      };
      const limits = { notificationsMs: 30 * DAY, topupsMs: 400 * DAY, journalMs: 0 };
      const total = await pruneAll(counting, limits, 500);
      // A key TTL counts from the write: past its retention already, it lives 1 ms.
      if (engine.ttls) await sleep(20);
      for (const id of [ids[0], ids[550], ids[1099]]) assert.equal(await s.getNotification(id as string), undefined);
      if (!engine.ttls) {
        assert.ok(total.notifications >= 1100, `all went (${total.notifications})`);
        assert.ok(calls >= 3, `in batches (${calls} calls)`);
      }
    });

    it('lists stale pending operations across codes, oldest first, within the limit', async () => {
      const { store } = stores();
      const s = full(store);
      const cardId = `pR${uid()}`;
      const t0 = Date.now() - 60_000;
      const a = op(cardId, 'A', t0);
      const b = op(cardId, 'B', t0 + 1);
      const c = op(cardId, 'A', t0 + 2);
      const done = op(cardId, 'B', t0 - 5);
      const fresh = op(cardId, 'A', Date.now() + 60_000);
      const elsewhere = op(`pR${uid()}`, 'A', t0);
      for (const o of [a, b, c, fresh, elsewhere]) await journal(s, o, false);
      await journal(s, done, true);
      const ids = async (limit: number, before = Date.now()): Promise<string[]> =>
        (await s.listStalePendingOperations(cardId, before, limit)).map((o) => o.requestId);
      assert.deepEqual(await ids(10), [a.requestId, b.requestId, c.requestId]);
      assert.deepEqual(await ids(2), [a.requestId, b.requestId]);
      assert.deepEqual(await ids(10, t0 - 1), []);
      await s.finishOperation(cardId, b.requestId, {
        state: 'failed',
        error: { code: 'INVALID_REQUEST', message: 'x' },
      });
      assert.deepEqual(await ids(10), [a.requestId, c.requestId]);
    });

    if (engine.shared) {
      it('the lease lets one instance prune at a time', async () => {
        const { store, other } = stores();
        const limits = { notificationsMs: 30 * DAY, topupsMs: 400 * DAY, journalMs: 0 };
        const settings = { limits, batch: 100, log: quiet };
        const mine = new PruneRunner(full(store), settings);
        const theirs = new PruneRunner(full(other), settings);
        const old = note(Date.now() - 40 * DAY);
        await store.applyNotification(old, { kind: 'none' });

        assert.equal(await other.acquireLock(PRUNE_LEASE, 'someone', 10_000), true);
        assert.equal(await mine.runOnce(), undefined, 'no pass while another instance holds the lease');
        if (!engine.ttls) assert.ok(await store.getNotification(old.id), 'nothing was pruned');
        assert.equal(await other.releaseLock(PRUNE_LEASE, 'someone'), true);

        for (let i = 0; i < 3; i++) {
          await Promise.all(
            Array.from({ length: 100 }, () => store.applyNotification(note(Date.now() - 40 * DAY), { kind: 'none' })),
          );
        }
        const both = await Promise.all([mine.runOnce(), theirs.runOnce()]);
        assert.equal(both.filter((r) => r === undefined).length, 1, 'exactly one of two instances ran the pass');
        assert.equal(await store.getNotification(old.id), undefined, 'and it pruned');
        assert.ok(await theirs.runOnce(), 'the lease was released after the pass');
      });
    }
  });
}
