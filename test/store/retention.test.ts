// The retention options' units (issue 18): ms or a duration string, read once by every engine.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptionsError } from '../../src/errors.js';
import { storeRetentionFrom } from '../../src/server/retention-env.js';
import { MemoryStore } from '../../src/store/memory.js';
import { cutoffs, durationMs, retentionLimits } from '../../src/store/retention.js';
import { waitFor } from '../support/poll.js';

describe('retention options', () => {
  it('reads ms and durations with a unit, and nothing else', () => {
    assert.equal(durationMs(0), 0);
    assert.equal(durationMs(1500), 1500);
    assert.equal(durationMs('500ms'), 500);
    assert.equal(durationMs('30s'), 30_000);
    assert.equal(durationMs('15m'), 900_000);
    assert.equal(durationMs('12h'), 43_200_000);
    assert.equal(durationMs('30d'), 2_592_000_000);
    for (const bad of ['30', '1.5d', '-1d', '30 days', '7y', '', -1, 1.5, Number.NaN, null]) {
      assert.equal(durationMs(bad), undefined, String(bad));
    }
  });

  it('defaults: notifications 30 days, ended top-ups 400 days, the journal forever', () => {
    assert.deepEqual(retentionLimits(), { notificationsMs: 30 * 86_400_000, topupsMs: 400 * 86_400_000, journalMs: 0 });
    assert.deepEqual(retentionLimits({ notifications: '1d', journal: 5000 }), {
      notificationsMs: 86_400_000,
      topupsMs: 400 * 86_400_000,
      journalMs: 5000,
    });
  });

  it('a journal kept forever has no cut-off; the others count back from now', () => {
    assert.deepEqual(cutoffs(10_000, { notificationsMs: 1000, topupsMs: 2000, journalMs: 0 }), {
      notifications: 9000,
      topups: 8000,
      journal: -1,
    });
  });

  it("serve's MEMBERCARD_RETAIN_* and MEMBERCARD_PRUNE_MS, a bad value named by its variable", () => {
    assert.deepEqual(storeRetentionFrom({}), { retention: {} });
    assert.deepEqual(
      storeRetentionFrom({
        MEMBERCARD_RETAIN_NOTIFICATIONS: '7d',
        MEMBERCARD_RETAIN_JOURNAL: '0',
        MEMBERCARD_PRUNE_MS: '60000',
      }),
      { retention: { notifications: 7 * 86_400_000, journal: 0 }, sweepIntervalMs: 60_000 },
    );
    assert.throws(
      () => storeRetentionFrom({ MEMBERCARD_RETAIN_TOPUPS: 'a year' }),
      (err: unknown) =>
        err instanceof OptionsError && /^MEMBERCARD_RETAIN_TOPUPS must be ms or a duration/.test(err.message),
    );
    assert.throws(() => storeRetentionFrom({ MEMBERCARD_PRUNE_MS: '10' }), /^OptionsError: MEMBERCARD_PRUNE_MS must/);
  });

  it('each store runs its pass on its own timer, under the lease, and close() stops it', async () => {
    const logged: Record<string, unknown>[] = [];
    const store = new MemoryStore({
      sweepIntervalMs: 50,
      retention: { notifications: '1d' },
      log: (_level, message, fields) => logged.push({ message, ...fields }),
    });
    await store.init();
    const old = { id: 'n-old', eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() - 2 * 86_400_000 };
    const fresh = { id: 'n-fresh', eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() };
    await store.applyNotification(old, { kind: 'none' });
    await store.applyNotification(fresh, { kind: 'none' });
    await waitFor(
      'the old record pruned by the timer',
      5000,
      async () => (await store.getNotification('n-old')) === undefined,
    );
    assert.ok(await store.getNotification('n-fresh'), 'the fresh one kept');
    assert.ok(logged.some((l) => l['message'] === 'retention pass' && l['notifications'] === 1));
    await store.close();
  });
});
