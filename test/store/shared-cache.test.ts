// The shared second cache level of the Redis store (issue 15): a drop wins over a read that started
// before it, a later read is kept, and what is kept expires.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createStore } from '../../src/store/index.js';
import type { SharedCacheStore, Store } from '../../src/store/types.js';
import { hasSharedCache } from '../../src/store/roles.js';
import { sleep } from '../support/poll.js';
import { clusterUnavailable, freshClusterStore } from '../support/cluster.js';
import { freshStore, unavailable, type TestStore } from '../support/services.js';

/** A freshFrom no read meets: always a claim. */
const NEVER_FRESH = Number.MAX_SAFE_INTEGER;

const variants = [
  {
    name: 'Redis',
    skip: await unavailable('redis', 'the shared cache level on Redis'),
    fresh: () => freshStore('redis', 'shared'),
  },
  {
    name: 'a Redis Cluster',
    skip: await clusterUnavailable('the shared cache level on a Redis Cluster'),
    fresh: () => freshClusterStore('shared'),
  },
];

for (const variant of variants)
  describe(`SharedCacheStore on ${variant.name}`, { skip: variant.skip ?? false }, () => {
    let place: TestStore;
    let store: Store & SharedCacheStore;
    before(async () => {
      place = variant.fresh();
      const made = createStore(place.url);
      if (!hasSharedCache(made)) throw new Error('the Redis store keeps a shared cache level');
      store = made;
      await store.init();
    });
    after(async () => {
      await store?.close();
      await place?.cleanup();
    });

    test('put, get; a drop refuses a put of a read that began before it; a later read is kept; TTL', async () => {
      const t0 = Date.now();
      await store.putCachedCard('card', 'code-1', { card: '{"balance":1}', readAt: t0 }, 60_000);
      assert.deepEqual(await store.getCachedCard('card', 'code-1'), { card: '{"balance":1}', readAt: t0 });
      await store.putCachedCard('card', 'code-1', { card: '{"balance":0}', readAt: t0 - 5 }, 60_000);
      assert.equal(
        (await store.getCachedCard('card', 'code-1'))?.card,
        '{"balance":1}',
        'an older read never replaces',
      );
      await sleep(2);
      await store.dropCachedCard('card', 'code-1');
      assert.equal(await store.getCachedCard('card', 'code-1'), undefined);
      await store.putCachedCard('card', 'code-1', { card: '{"balance":1}', readAt: t0 }, 60_000);
      assert.equal(await store.getCachedCard('card', 'code-1'), undefined, 'a read from before the drop is refused');
      await sleep(2);
      const t1 = Date.now();
      await store.putCachedCard('card', 'code-1', { card: '{"balance":2}', readAt: t1 }, 60_000);
      assert.equal((await store.getCachedCard('card', 'code-1'))?.card, '{"balance":2}');
      await store.putCachedCard('card', 'code-2', { card: '{}', readAt: Date.now() }, 30);
      await sleep(60);
      assert.equal(await store.getCachedCard('card', 'code-2'), undefined, 'expired');
    });

    test('one claim per card at a time; a drop releases it', async () => {
      assert.equal((await store.claimCardRead('card', 'code-3', 5000, NEVER_FRESH)).claimed, true);
      assert.equal((await store.claimCardRead('card', 'code-3', 5000, NEVER_FRESH)).claimed, false);
      await store.dropCachedCard('card', 'code-3');
      assert.equal((await store.claimCardRead('card', 'code-3', 5000, NEVER_FRESH)).claimed, true);
    });

    test('a card read at or after freshFrom is answered, and nothing is claimed; an older one is not', async () => {
      const t0 = Date.now();
      await store.putCachedCard('card', 'code-5', { card: '{"balance":5}', readAt: t0 }, 60_000);
      assert.deepEqual(await store.claimCardRead('card', 'code-5', 5000, t0), {
        entry: { card: '{"balance":5}', readAt: t0 },
        claimed: false,
      });
      assert.deepEqual(await store.claimCardRead('card', 'code-5', 5000, t0 + 1), { claimed: true }, 'none was taken');
      assert.deepEqual(await store.claimCardRead('card', 'code-5', 5000, t0 + 1), { claimed: false });
      assert.equal((await store.claimCardRead('card', 'code-6', 5000, 0)).claimed, true, 'no card at all: a claim');
    });

    test('a put ends the claim, kept or refused; a release ends it', async () => {
      assert.equal((await store.claimCardRead('card', 'code-4', 5000, NEVER_FRESH)).claimed, true);
      await store.putCachedCard('card', 'code-4', { card: '{}', readAt: Date.now() }, 60_000);
      assert.equal(
        (await store.claimCardRead('card', 'code-4', 5000, NEVER_FRESH)).claimed,
        true,
        'a kept put ended it',
      );
      await store.putCachedCard('card', 'code-4', { card: '{}', readAt: 1 }, 60_000);
      assert.equal(await store.getCachedCard('card', 'code-4').then((e) => e?.readAt === 1), false, 'refused');
      assert.equal(
        (await store.claimCardRead('card', 'code-4', 5000, NEVER_FRESH)).claimed,
        true,
        'a refused put ended it too',
      );
      await store.releaseCardRead('card', 'code-4');
      assert.equal((await store.claimCardRead('card', 'code-4', 5000, NEVER_FRESH)).claimed, true, 'released');
    });
  });
