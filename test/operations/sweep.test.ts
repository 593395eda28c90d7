// Issue 18: merchant changes left pending (WeChat Pay never answered) settle by themselves: on
// demand through cards.operations.sweep(), and in the background, with back-off, one instance at a time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import { outRequestNo } from '../../src/operations/index.js';
import type { MemberCardOptions } from '../../src/options.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { sleep, waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { freshStore, unavailable } from '../support/services.js';

for (const engine of ['memory', 'redis'] as const) {
  const skip = engine === 'memory' ? undefined : await unavailable(engine, `operation sweep on ${engine}`);

  describe(`pending merchant changes settle by themselves, on ${engine}`, { skip: skip ?? false }, () => {
    let world: TestSandbox;
    const location = freshStore(engine, 'sweep');
    const stores: Store[] = [];
    const cards: MemberCard[] = [];
    /** A new store object on the location (for memory, a new store), for one test's instances. */
    const newStore = (): Store => {
      const store = createStore(location.url);
      stores.push(store);
      return store;
    };
    const instance = async (
      operations: MemberCardOptions['operations'],
      store: Store = newStore(),
    ): Promise<MemberCard> => {
      const c = memberCard(world.cardOptions(store, { operations }));
      cards.push(c);
      await c.ready();
      return c;
    };

    before(async () => {
      world = await TestSandbox.start();
    });
    after(async () => {
      for (const c of cards) await c.close();
      for (const s of stores) await s.close();
      await location.cleanup();
      await world.close();
    });

    /** A balance change whose PATCH never reaches WeChat Pay: recorded, left pending. */
    async function leavePending(c: MemberCard, code: string, requestId: string): Promise<void> {
      const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
      await world.fault({ reset: true, path, method: 'PATCH', times: 50 });
      await assert.rejects(c.operations.adjustBalance({ code, requestId, amount: 250 }));
      assert.equal((await c.operations.get(requestId))?.state, 'pending');
      await world.clearFaults();
    }

    it('cards.operations.sweep() settles an entry pending longer than sweepAfterMs, once', async () => {
      const store = newStore();
      // Two instances on one store: one calls a change stale after a minute, the other after 200 ms.
      const patient = await instance({ sweepAfterMs: 60_000, sweepEveryMs: 0 }, store);
      const c = await instance({ sweepAfterMs: 200, sweepEveryMs: 0 }, store);
      const { code } = await world.personWithCard({ balance: 500 });
      await leavePending(c, code, 'sweep-on-demand');
      const early = await patient.operations.sweep();
      assert.deepEqual(early, { ran: true, operations: { checked: 0, applied: 0, failed: 0, waiting: 0 } });
      assert.equal((await c.operations.get('sweep-on-demand'))?.state, 'pending', 'not stale for that one yet');
      await sleep(250);
      const report = await c.operations.sweep();
      assert.deepEqual(report.operations, { checked: 1, applied: 1, failed: 0, waiting: 0 });
      assert.equal((await c.operations.get('sweep-on-demand'))?.state, 'applied');
      const card = await world.card(code);
      assert.equal(card.balance, 750);
      const no = outRequestNo(world.credentials.cardId, 'sweep-on-demand');
      assert.equal(card.applied.card.filter((x: string) => x === no).length, 1);
      assert.equal((await c.operations.sweep()).operations.checked, 0, 'nothing left');
    });

    it('an entry WeChat Pay still does not answer waits, backing off, and is not tried on every sweep', async () => {
      const c = await instance({ sweepAfterMs: 1000, sweepEveryMs: 0 });
      const { code } = await world.personWithCard({ balance: 500 });
      await leavePending(c, code, 'sweep-backoff');
      await sleep(1050);
      const path = `/v3/marketing/membercard-open/cards/${world.credentials.cardId}/codes/${code}`;
      await world.fault({ reset: true, path, method: 'PATCH', times: 50 });
      const first = await c.operations.sweep();
      assert.deepEqual(first.operations, { checked: 1, applied: 0, failed: 0, waiting: 1 });
      const again = await c.operations.sweep();
      assert.equal(again.operations.checked, 0, 'backing off (2 s after the first try)');
      await world.clearFaults();
      await waitFor('applied after the back-off', 10_000, async () => {
        await c.operations.sweep();
        return (await c.operations.get('sweep-backoff'))?.state === 'applied';
      });
      assert.equal((await world.card(code)).balance, 750);
    });

    it('settles in the background, with no call at all', async () => {
      const c = await instance({ sweepAfterMs: 200, sweepEveryMs: 100 });
      const { code } = await world.personWithCard({ balance: 500 });
      await leavePending(c, code, 'sweep-background');
      await waitFor('applied by the background sweep', 10_000, async () => {
        return (await c.operations.get('sweep-background'))?.state === 'applied';
      });
      assert.equal((await world.card(code)).balance, 750);
      // close() stops its timer and waits for a sweep in progress (which releases the lease).
      await c.close();
    });

    it('one instance at a time: while another holds the lease, sweep() does nothing', async () => {
      const c = await instance({ sweepAfterMs: 100, sweepEveryMs: 0 });
      const store = stores[stores.length - 1];
      const lease = `sweep:${world.credentials.cardId}`;
      assert.equal(await store?.acquireLock(lease, 'another-instance', 10_000), true);
      try {
        assert.deepEqual(await c.operations.sweep(), {
          ran: false,
          operations: { checked: 0, applied: 0, failed: 0, waiting: 0 },
        });
      } finally {
        await store?.releaseLock(lease, 'another-instance');
      }
      assert.equal((await c.operations.sweep()).ran, true);
    });
  });
}
