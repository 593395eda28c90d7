import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CardCache } from '../../src/cache/card-cache.js';
import type { UpstreamCard } from '../../src/wechatpay/types.js';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';
import { sleep } from '../support/poll.js';

const card = (code: string, balance = 0): UpstreamCard => ({ card_id: 'c', code, balance });

describe('CardCache', () => {
  test('single-flight: concurrent reads of one card share one load', async () => {
    const cache = new CardCache({ ttl: 1000, max: 10 });
    let loads = 0;
    const load = async () => {
      loads++;
      await sleep(20);
      return card('1');
    };
    const results = await Promise.all(Array.from({ length: 50 }, () => cache.card('c', '1', load)));
    assert.equal(loads, 1);
    assert.ok(results.every((r) => r.code === '1'));
    await cache.card('c', '1', load);
    assert.equal(loads, 1, 'a fresh entry is a hit');
  });

  test('entries expire after the TTL, and the LRU bound holds', async () => {
    const cache = new CardCache({ ttl: 30, max: 2 });
    let loads = 0;
    const load = (code: string) => async () => {
      loads++;
      return card(code);
    };
    await cache.card('c', 'a', load('a'));
    await sleep(40);
    await cache.card('c', 'a', load('a'));
    assert.equal(loads, 2, 'expired entry reloaded');
    await cache.card('c', 'b', load('b'));
    await cache.card('c', 'a', load('a')); // a is now the most recent
    await cache.card('c', 'x', load('x')); // evicts b
    assert.equal(cache.size, 2);
    const before = loads;
    await cache.card('c', 'a', load('a'));
    assert.equal(loads, before, 'a kept');
    await cache.card('c', 'b', load('b'));
    assert.equal(loads, before + 1, 'b was evicted');
  });

  test('a read in flight when the card is invalidated never stores its stale answer', async () => {
    const cache = new CardCache({ ttl: 10_000, max: 10 });
    let release!: () => void;
    const slow = cache.card('c', '1', () => new Promise<UpstreamCard>((r) => (release = () => r(card('1', 100)))));
    cache.invalidate('c', '1');
    release();
    assert.equal((await slow).balance, 100);
    const fresh = await cache.card('c', '1', async () => card('1', 200));
    assert.equal(fresh.balance, 200);
  });

  test('a user\'s code is kept, "no card" is not, and invalidating the card drops both', async () => {
    const cache = new CardCache({ ttl: 10_000, max: 10 });
    const user = { openid: 'mp1', unionid: 'u1' };
    let lookups = 0;
    const none = async () => (lookups++, undefined);
    assert.equal(await cache.code('c', user, none), undefined);
    assert.equal(await cache.code('c', user, none), undefined);
    assert.equal(lookups, 2, 'no card yet is looked up every time');
    const found = async () => (lookups++, { code: '7' });
    await cache.code('c', user, found);
    await cache.code('c', user, found);
    assert.equal(lookups, 3);
    assert.equal(
      (await cache.code('c', { openid: 'mp2' }, async () => ({ code: '8' })))?.code,
      '8',
      'another user has their own entry',
    );
    cache.invalidate('c', '7');
    await cache.code('c', user, found);
    assert.equal(lookups, 4, 'dropped with its card');
  });

  test('failed loads are not cached; ttl 0 turns everything off', async () => {
    const cache = new CardCache({ ttl: 10_000, max: 10 });
    await assert.rejects(cache.card('c', '1', async () => Promise.reject(new Error('down'))));
    assert.equal((await cache.card('c', '1', async () => card('1', 5))).balance, 5);
    const off = new CardCache({ ttl: 0, max: 10 });
    let loads = 0;
    await Promise.all([1, 2, 3].map(() => off.card('c', '1', async () => (loads++, card('1')))));
    assert.equal(loads, 3);
  });
});

describe('CardCache: coherence, stale-while-revalidate', () => {
  test('the longer coherentTtl holds only while the bus is live, and only for cards read since', async () => {
    const cache = new CardCache({ ttl: 30, max: 10, coherentTtl: 60_000 });
    let loads = 0;
    const load = async () => (loads++, card('1'));
    cache.setCoherent(true);
    await cache.card('c', '1', load);
    await sleep(60);
    await cache.card('c', '1', load);
    assert.equal(loads, 1, 'bus live: kept past the short TTL');
    cache.setCoherent(false);
    await cache.card('c', '1', load);
    assert.equal(loads, 2, 'bus lost: the short TTL again, at once');
    await sleep(5);
    cache.setCoherent(true);
    await sleep(60);
    await cache.card('c', '1', load);
    assert.equal(loads, 3, 'a card read before the bus came back keeps the short TTL');
    await sleep(60);
    await cache.card('c', '1', load);
    assert.equal(loads, 3, 'read while live: the long TTL');
  });

  test('invalidate() during a background refresh: the refreshed answer is not kept', async () => {
    const cache = new CardCache({ ttl: 20, max: 10, staleWhileRevalidate: 60_000 });
    await cache.card('c', '1', async () => card('1', 1));
    await sleep(40);
    let release!: () => void;
    const answered = await cache.card('c', '1', () => new Promise((r) => (release = () => r(card('1', 2)))));
    assert.equal(answered.balance, 1, 'the kept card, at once');
    cache.invalidate('c', '1');
    release();
    await sleep(5);
    assert.equal((await cache.card('c', '1', async () => card('1', 3))).balance, 3, 'read afresh after the change');
  });
});

describe('the read cache in the module', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { cache: { ttl: 60_000, max: 100 } } });
  });
  after(() => h.close());

  test("repeated and concurrent reads cost one upstream call; a user never gets another's cached card", async () => {
    const alice = await h.sandbox.newUser();
    const bob = await h.sandbox.newUser();
    const { code: aliceCode } = await h.giveCard(alice, { balance: 1 });
    const { code: bobCode } = await h.giveCard(bob, { balance: 2 });
    const [aliceToken, bobToken] = [await h.login(alice), await h.login(bob)];
    const before = await h.sandbox.upstreamCount();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => h.api('GET', '/member-card', { token: i % 2 ? bobToken : aliceToken })),
    );
    replies.forEach((r, i) => assert.equal(r.body.card.code, i % 2 ? bobCode : aliceCode));
    // One read of each card, and one of the card template (the brand), kept for minutes.
    assert.equal(await h.sandbox.upstreamCount(), before + 3, 'one upstream read per card');
  });

  test('our own PATCH and a notification about the card invalidate it at once', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 10 });
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).body.card.balance, 10);
    // Changed behind our back: the cache still answers the old card (within the TTL)…
    await h.sandbox.setCard(code, { balance: 20 });
    assert.equal((await h.api('GET', '/member-card', { token })).body.card.balance, 10);
    // …until our own edit, which invalidates it.
    await h.api('PATCH', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
    const afterPatch = await h.api('GET', '/member-card', { token });
    assert.equal(afterPatch.body.card.balance, 20);
    assert.equal(afterPatch.body.card.background_picture_url, BACKGROUNDS[0]);
    // A notification about the card (the user changed their information) invalidates it too.
    await h.sandbox.setCard(code, { balance: 30 });
    const { notification_id } = await h.sandbox.cardEvent(code, {
      event_type: 'USER_MODIFY_INFORMATION',
    });
    await h.sandbox.waitDelivered(notification_id);
    assert.equal((await h.api('GET', '/member-card', { token })).body.card.balance, 30);
  });
});
