// Merchant operations are exact under concurrency, retries and timeouts: asserted on the
// sandbox's stored card, with the store in SQLite and in PostgreSQL (and Redis when reachable).
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import { outRequestNo } from '../../src/operations/index.js';
import type { MemberCardOptions } from '../../src/options.js';
import { loadSqlite } from '../../src/store/drivers.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { sleep, waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { deleteRedisKeys, freshStore, POSTGRES_URL, unavailable, type TestStore } from '../support/services.js';

/** n memberCard() instances, each with its own Store object on one location: n instances, as the store sees it. */
async function instances(
  world: TestSandbox,
  url: string,
  n: number,
  extra: Partial<MemberCardOptions> = {},
): Promise<{ cards: MemberCard[]; stores: Store[]; close(): Promise<void> }> {
  const stores = Array.from({ length: n }, () => createStore(url));
  const cards = stores.map((store) => memberCard(world.cardOptions(store, extra)));
  for (const c of cards) await c.ready();
  return {
    cards,
    stores,
    close: async () => {
      for (const s of stores) await s.close();
    },
  };
}

/** Resolves with the MemberCardError code `p` rejected with (and fails when it resolved). */
async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  throw new Error('expected a rejection');
}

/**
 * Sets a sandbox fault as soon as this instance's next card read has its answer: a GET shares
 * the PATCH's path, so only the PATCH that follows meets the fault. Answers how to undo the hook.
 */
function faultAfterRead(instance: MemberCard, world: TestSandbox, spec: Record<string, unknown>): () => void {
  const original = instance.client.getCard.bind(instance.client);
  instance.client.getCard = async (cardId, code) => {
    const card = await original(cardId, code);
    await world.fault(spec);
    return card;
  };
  return () => delete (instance.client as { getCard?: unknown }).getCard;
}

/**
 * Deletes every operations lock at this location, as if each lease had run out while its holder
 * was stuck (a long GC pause, a partition): the holder does not know it lost the lock.
 */
async function stealLocks(store: TestStore): Promise<void> {
  if (store.engine === 'sqlite') {
    // Whichever driver this Node gives the store (node:sqlite, or better-sqlite3 on Node 20).
    const db = (await loadSqlite()).open(store.place, 5000);
    try {
      db.prepare('DELETE FROM op_locks').run();
    } finally {
      db.close();
    }
  } else if (store.engine === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`DELETE FROM "${store.place}".op_locks`);
    } finally {
      await client.end();
    }
  } else if (store.engine === 'redis') {
    await deleteRedisKeys(`${store.place}l:`);
  } else {
    throw new Error('stealLocks: not for the memory engine (one process only)');
  }
}
let seq = 0;
const rid = (label: string) => `${label}-${process.pid}-${Date.now()}-${++seq}`;
const patches = (lines: { method: string; path: string }[]) => lines.filter((l) => l.method === 'PATCH');

for (const engine of ['sqlite', 'postgres', 'redis'] as const) {
  const skip = await unavailable(engine, `operations on ${engine}`);
  describe(`operations on ${engine}`, { skip: skip ?? false }, () => {
    const location = freshStore(engine, 'ops');
    let world: TestSandbox;
    let a: MemberCard;
    let b: MemberCard;
    let store: Store;
    let close: () => Promise<void>;

    before(async () => {
      world = await TestSandbox.start();
      // The client gives up on an attempt after 400 ms and tries once more.
      const made = await instances(world, location.url, 2, {
        wechatpay: { ...world.cardOptions('memory:').wechatpay, timeout: 400, retries: 1 },
        operations: { lockTtlMs: 3000, lockWaitMs: 20_000 },
      });
      [a, b] = made.cards as [MemberCard, MemberCard];
      store = made.stores[0] as Store;
      close = () => made.close();
    });
    afterEach(() => world.clearFaults());
    after(async () => {
      await close?.();
      await world?.close();
      await location.cleanup();
    });

    it('50 concurrent +1 changes to one card, split across two instances, leave it exactly +50', async () => {
      const { code } = await world.personWithCard({ balance: 1000 });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? a : b).operations.adjustBalance({ code, amount: 1, requestId: rid('plus'), remark: '+1' }),
        ),
      );
      assert.equal((await world.card(code)).balance, 1050);
      assert.ok(results.every((r) => r.state === 'applied' && r.amount === 1 && r.after === (r.before as number) + 1));
      // Every step started from the previous one's result: befores are 1000..1049, each once.
      assert.deepEqual(
        results.map((r) => r.before as number).sort((x, y) => x - y),
        Array.from({ length: 50 }, (_, i) => 1000 + i),
      );
      const trail = await a.operations.history({ code, limit: 100 });
      assert.equal(trail.length, 50);
      assert.equal(trail[0]?.after, 1050, 'newest first');
      assert.equal(patches(await world.requests(code)).length, 50, 'one PATCH per change');
    });

    it(
      'one requestId sent 20 times concurrently (both instances) ' +
        'applies once and returns the same result each time',
      async () => {
        const { code } = await world.personWithCard({ balance: 500 });
        const requestId = rid('same');
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? a : b).operations.adjustBalance({ code, amount: -120, requestId, remark: '拿铁' }),
          ),
        );
        assert.equal((await world.card(code)).balance, 380);
        for (const r of results) assert.deepEqual(r, results[0]);
        assert.equal(results[0]?.before, 500);
        assert.equal(results[0]?.after, 380);
        assert.equal(results[0]?.outRequestNo, outRequestNo(world.credentials.cardId, requestId));
        assert.equal(patches(await world.requests(code)).length, 1);
        // And later, sequentially, still the same answer without another PATCH.
        assert.deepEqual(
          await a.operations.adjustBalance({ code, amount: -120, requestId, remark: '拿铁' }),
          results[0],
        );
        assert.equal(patches(await world.requests(code)).length, 1);
      },
    );

    it(
      'a PATCH that times out after WeChat Pay applied it is ' +
        're-sent with the same out_request_no and applied once',
      async () => {
        const { code } = await world.personWithCard({ bonus_value: 100 });
        const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}/rights`;
        // Every attempt of the client times out (the sandbox applies, then holds the answer).
        await world.fault({ latency_ms: 700, times: 2, path });
        const requestId = rid('slow');
        assert.equal(await errorCode(a.operations.adjustPoints({ code, amount: 30, requestId })), 'UPSTREAM_TIMEOUT');
        assert.equal((await world.card(code)).bonus_value, 130, 'the sandbox applied it');
        const pending = await store.getOperation(world.credentials.cardId, requestId);
        assert.equal(pending?.state, 'pending');
        assert.deepEqual([pending?.before, pending?.after], [100, 130]);

        // The retry (from the other instance) re-sends the same PATCH: 204 for a replay, no change.
        const done = await b.operations.adjustPoints({ code, amount: 30, requestId });
        assert.equal(done.state, 'applied');
        assert.deepEqual([done.before, done.after], [100, 130]);
        assert.equal((await world.card(code)).bonus_value, 130);
        assert.equal((await world.card(code)).applied.rights.filter((n) => n === done.outRequestNo).length, 1);
        assert.equal((await a.operations.history({ code })).length, 1);
      },
    );

    it('a client retry after a timed-out attempt is applied once (balance)', async () => {
      const { code } = await world.personWithCard({ balance: 200 });
      const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
      // The GET shares the PATCH's path: arm the fault once the card was read, for the PATCH only.
      const disarm = faultAfterRead(a, world, { latency_ms: 700, times: 1, path });
      try {
        const op = await a.operations.adjustBalance({ code, amount: 50, requestId: rid('retry') });
        assert.deepEqual([op.state, op.before, op.after], ['applied', 200, 250]);
      } finally {
        disarm();
      }
      assert.equal((await world.card(code)).balance, 250);
      await sleep(400); // the sandbox logs the slow attempt when it answers
      const sent = patches(await world.requests(code));
      assert.equal(sent.length, 2, 'the timed-out attempt and its retry');
    });

    it(
      'a change on a card with an unknown outcome pending settles it first, ' + 'then computes from the true balance',
      async () => {
        const { code } = await world.personWithCard({ balance: 1000 });
        const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
        const disarm = faultAfterRead(a, world, { latency_ms: 700, times: 2, path });
        const first = rid('lost');
        try {
          assert.equal(
            await errorCode(a.operations.adjustBalance({ code, amount: -300, requestId: first })),
            'UPSTREAM_TIMEOUT',
          );
        } finally {
          disarm();
        }
        assert.equal((await world.card(code)).balance, 700, 'applied upstream, not recorded');
        // Another till changes the same card: the pending change is settled first (a replay, 204).
        const second = await b.operations.adjustBalance({ code, amount: -200, requestId: rid('next') });
        assert.deepEqual([second.before, second.after], [700, 500]);
        assert.equal((await world.card(code)).balance, 500);
        assert.equal((await store.getOperation(world.credentials.cardId, first))?.state, 'applied');
        assert.deepEqual(
          (await a.operations.history({ code })).map((e) => e.after),
          [500, 700],
        );
      },
    );

    it(
      'a lock lost while a slow PATCH is in flight: ' +
        'the next holder settles that change first, nothing is lost or doubled',
      async () => {
        const { code } = await world.personWithCard({ balance: 1000 });
        const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
        // Applied at once, answered 350 ms later (within the 400 ms client timeout).
        const disarm = faultAfterRead(a, world, { latency_ms: 350, times: 1, path });
        let slow: Promise<Awaited<ReturnType<typeof a.operations.adjustBalance>>>;
        try {
          slow = a.operations.adjustBalance({ code, amount: -100, requestId: rid('slow-holder') });
          await waitFor('the slow PATCH to be applied', 5000, async () => (await world.card(code)).balance === 900, 5);
        } finally {
          disarm();
        }
        // A's lease "expires" while its answer is still on the way; B takes the card.
        await stealLocks(location);
        const next = await b.operations.adjustBalance({ code, amount: -50, requestId: rid('after-steal') });
        assert.deepEqual([next.before, next.after], [900, 850], 'computed after the in-flight change');
        const first = await slow;
        assert.deepEqual([first.state, first.before, first.after], ['applied', 1000, 900]);
        assert.equal((await world.card(code)).balance, 850);
        assert.deepEqual(
          (await a.operations.history({ code })).map((e) => e.after),
          [850, 900],
          'one audit line each',
        );
      },
    );

    it('a change that would go below zero sends nothing, is recorded, and answers the same on a retry', async () => {
      const { code } = await world.personWithCard({ balance: 100, bonus_value: 5 });
      const requestId = rid('broke');
      const err = await a.operations.adjustBalance({ code, amount: -101, requestId }).catch((e: unknown) => e);
      assert.equal((err as { code?: string }).code, 'INSUFFICIENT_BALANCE');
      assert.equal((err as { status?: number }).status, 400);
      assert.equal(
        await errorCode(b.operations.adjustBalance({ code, amount: -101, requestId })),
        'INSUFFICIENT_BALANCE',
      );
      assert.equal(
        await errorCode(a.operations.adjustPoints({ code, amount: -6, requestId: rid('points-broke') })),
        'INSUFFICIENT_BALANCE',
      );
      assert.deepEqual(patches(await world.requests(code)), [], 'no PATCH at all');
      assert.equal((await world.card(code)).balance, 100);
      const recorded = await a.operations.get(requestId);
      assert.deepEqual(
        [recorded?.state, recorded?.error?.code, recorded?.before, recorded?.after],
        ['failed', 'INSUFFICIENT_BALANCE', 100, -1],
      );
      // Exactly to zero is fine.
      assert.equal((await a.operations.adjustBalance({ code, amount: -100, requestId: rid('zero') })).after, 0);
      assert.deepEqual(
        (await a.operations.history({ code })).map((e) => e.requestId).length,
        1,
        'refusals are not changes',
      );
    });

    it('the same requestId with other parameters is 409 OPERATION_CONFLICT, and changes nothing', async () => {
      const { code } = await world.personWithCard({ balance: 100 });
      const other = await world.personWithCard({ balance: 100 });
      const requestId = rid('conflict');
      await a.operations.adjustBalance({ code, amount: 10, requestId });
      const codes = await Promise.all([
        errorCode(a.operations.adjustBalance({ code, amount: 11, requestId })),
        errorCode(b.operations.adjustBalance({ code, amount: 10, requestId, remark: 'x' })),
        errorCode(a.operations.adjustPoints({ code, amount: 10, requestId })),
        errorCode(b.operations.adjustBalance({ code: other.code, amount: 10, requestId })),
        errorCode(a.operations.setLevel({ code, level: 'VIP', requestId })),
      ]);
      assert.deepEqual(codes, Array(5).fill('OPERATION_CONFLICT'));
      assert.equal((await world.card(code)).balance, 110);
      assert.equal((await world.card(other.code)).balance, 100);
      // A different actor is not a different change.
      assert.equal((await a.operations.adjustBalance({ code, amount: 10, requestId, actor: 'till-9' })).after, 110);
    });

    it(
      'level and membership number: set once, ' + 'recorded with before/after, replayed without a second PATCH',
      async () => {
        const { code } = await world.personWithCard({ level: '普通会员' });
        const lv = await a.operations.setLevel({ code, level: '钻石会员', requestId: rid('level'), actor: 'crm' });
        assert.deepEqual([lv.before, lv.after, lv.actor], ['普通会员', '钻石会员', 'crm']);
        const num = await b.operations.setMembershipNumber({
          code,
          membershipNumber: 'VIP-0001/A',
          requestId: rid('num'),
        });
        assert.deepEqual([num.before, num.after], [code, 'VIP-0001/A']);
        const card = await world.card(code);
        assert.deepEqual([card.level, card.membership_number], ['钻石会员', 'VIP-0001/A']);
        const trail = await a.operations.history({ code });
        assert.deepEqual(
          trail.map((e) => e.kind),
          ['membership_number', 'level'],
        );
      },
    );

    it('texts are kept as given, so a retry answers its recorded outcome; lengths count characters', async () => {
      const { code } = await world.personWithCard({ balance: 100 });
      const input = { code, amount: 5, requestId: rid('text'), remark: '买一杯🧋奶茶，谢谢😀', actor: '店员👩‍🍳' };
      const first = await a.operations.adjustBalance(input);
      assert.equal(first.remark, input.remark);
      assert.deepEqual(await b.operations.adjustBalance(input), first, 'the retry answers the recorded entry');
      // Three emoji are three characters: a level may hold five.
      const level = await a.operations.setLevel({ code, level: '💎💎💎', requestId: rid('level') });
      assert.equal(level.value, '💎💎💎');
      assert.equal((await world.card(code)).level, '💎💎💎');
      assert.equal(
        await errorCode(a.operations.setLevel({ code, level: '💎💎💎💎💎💎', requestId: rid('level6') })),
        'INVALID_REQUEST',
      );
      assert.equal(
        await errorCode(a.operations.adjustBalance({ ...input, requestId: rid('lone'), remark: 'ok \ud800' })),
        'INVALID_REQUEST',
      );
      assert.equal((await world.card(code)).balance, 105, 'applied once');
    });

    it('a card that is not EFFECTIVE is refused with 409 CARD_NOT_EDITABLE and nothing is sent', async () => {
      const { code } = await world.personWithCard({ balance: 100 });
      await world.setCard(code, {
        user_card_status: 'EXPIRE',
      });
      assert.equal(
        await errorCode(a.operations.adjustBalance({ code, amount: 5, requestId: rid('expired') })),
        'CARD_NOT_EDITABLE',
      );
      assert.deepEqual(patches(await world.requests(code)), []);
    });

    it('a user is resolved through the bindings, like the user routes', async () => {
      const {
        code,
        person: { unionid },
      } = await world.personWithCard({ bonus_value: 10 });
      await store.applyNotification(
        { id: rid('n'), eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() },
        { kind: 'bind', cardId: world.credentials.cardId, code, unionid },
      );
      const op = await a.operations.adjustPoints({
        user: { openid: 'mp-openid-of-someone', unionid },
        amount: 5,
        requestId: rid('user'),
      });
      assert.deepEqual([op.code, op.after], [code, 15]);
      assert.equal(
        await errorCode(a.operations.adjustPoints({ user: { openid: 'nobody' }, amount: 5, requestId: rid('nobody') })),
        'CARD_NOT_FOUND',
      );
      assert.equal((await a.operations.history({ user: { openid: 'x', unionid } })).length, 1);
    });
  });
}
