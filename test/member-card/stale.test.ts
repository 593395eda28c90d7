// Stale-while-revalidate and stale-if-error (issue 15), against the real sandbox and its faults.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';
import { sleep, waitFor } from '../support/poll.js';

// Fresh for 50 ms only, so a test gets past the TTL by waiting a little.
const TTL = 50;

describe('stale-if-error: WeChat Pay unavailable', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { cache: { ttlMs: TTL, staleWhileRevalidateMs: 0 } } });
  });
  afterEach(() => h.sandbox.clearFaults());
  after(() => h.close());

  async function member(balance: number) {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance });
    return { user, code, token: await h.login(user) };
  }

  for (const [name, fault] of [
    ['a 5xx', { status: 503, path: '/v3/marketing/membercard-open/cards/' }],
    ['a 429', { status: 429, path: '/v3/marketing/membercard-open/cards/' }],
    ['a dropped connection', { reset: true, path: '/v3/marketing/membercard-open/cards/' }],
  ] as const) {
    test(`${name}: a card read before is answered stale with asOf; edits refused with 503 UPSTREAM_BUSY`, async () => {
      const { token } = await member(321);
      const fresh = await h.api('GET', '/member-card', { token });
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.stale, undefined, 'a fresh answer says nothing of staleness');
      const readAt = Date.now();
      await h.sandbox.fault({ ...fault });
      await sleep(TTL * 2);
      const stale = await h.api('GET', '/member-card', { token });
      assert.equal(stale.status, 200, stale.text);
      assert.equal(stale.body.stale, true);
      assert.equal(stale.body.card.balance, 321);
      const asOf = Date.parse(stale.body.asOf);
      assert.ok(Math.abs(asOf - readAt) < 2000, `asOf ${stale.body.asOf} is the time of the last read`);
      assert.deepEqual(stale.body.editable, {}, 'nothing is editable on a stale card');
      const edit = await h.api('PATCH', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
      assert.equal(edit.status, 503);
      assert.equal(edit.body.code, 'UPSTREAM_BUSY');
      assert.ok(Number(edit.headers.get('retry-after')) > 0);
      const patches = (await h.sandbox.requests()).filter((r) => r.method === 'PATCH' && r.path.includes('/codes/'));
      assert.equal(patches.length, 0, 'no edit reached WeChat Pay');
      await h.sandbox.clearFaults();
      const back = await h.api('GET', '/member-card', { token });
      assert.equal(back.status, 200);
      assert.equal(back.body.stale, undefined);
    });
  }

  test('a member never read gets the error; the stale card of another member is never shown', async () => {
    const alice = await member(1);
    const bob = await member(2);
    assert.equal((await h.api('GET', '/member-card', { token: alice.token })).status, 200);
    await h.sandbox.fault({ status: 500, path: '/v3/marketing/membercard-open/cards/' });
    await sleep(TTL * 2);
    const reply = await h.api('GET', '/member-card', { token: bob.token });
    assert.equal(reply.status, 503);
    assert.equal(reply.body.code, 'UPSTREAM_BUSY');
    assert.equal(reply.text.includes(alice.code), false);
    const aliceStale = await h.api('GET', '/member-card', { token: alice.token });
    assert.equal(aliceStale.body.card.code, alice.code);
    assert.equal(aliceStale.body.stale, true);
  });

  test('an answer about the card (not unavailability) is never covered by a stale one', async () => {
    const { token } = await member(5);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    await h.sandbox.fault({ status: 403, code: 'NO_AUTH', path: '/v3/marketing/membercard-open/cards/' });
    await sleep(TTL * 2);
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 502);
    assert.equal(reply.body.code, 'UPSTREAM_ERROR');
  });
});

describe('stale-if-error: maxStaleMs bounds the age of a stale answer', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { cache: { ttlMs: TTL, staleWhileRevalidateMs: 0, maxStaleMs: 1500 } } });
  });
  after(() => h.close());

  test('a card read longer ago than maxStaleMs is not answered', async () => {
    const user = await h.sandbox.newUser();
    await h.giveCard(user, { balance: 9 });
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    await h.sandbox.fault({ status: 502, path: '/v3/marketing/membercard-open/cards/' });
    await sleep(TTL * 2);
    assert.equal((await h.api('GET', '/member-card', { token })).body.stale, true, 'within maxStaleMs');
    await sleep(1600);
    const late = await h.api('GET', '/member-card', { token });
    assert.equal(late.status, 503, 'older than maxStaleMs: the error');
  });
});

describe('stale-while-revalidate', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { cache: { ttlMs: TTL, staleWhileRevalidateMs: 60_000 } } });
  });
  after(() => h.close());

  test('past the TTL: answered at once from the cache, refreshed by one background read', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 10 });
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).body.card.balance, 10);
    const reads = async () =>
      (await h.sandbox.requests(code)).filter((r) => r.method === 'GET' && r.path.startsWith('/v3/')).length;
    const before = await reads();
    await h.sandbox.setCard(code, { balance: 20 });
    // The refresh will take 400 ms: answers that waited for it could not all come back first.
    await h.sandbox.fault({ latency_ms: 400, path: '/v3/marketing/membercard-open/cards/', method: 'GET' });
    await sleep(TTL * 2);
    const replies = await Promise.all(Array.from({ length: 10 }, () => h.api('GET', '/member-card', { token })));
    for (const r of replies) {
      assert.equal(r.status, 200);
      assert.equal(r.body.card.balance, 10, 'the kept card, at once');
      assert.equal(r.body.stale, undefined, 'within the window it is not a stale stand-in');
    }
    await waitFor('the background refresh', 5000, async () => (await reads()) === before + 1);
    await sleep(300);
    assert.equal(await reads(), before + 1, 'ten answers, one refresh');
    await h.sandbox.clearFaults();
    const next = await h.api('GET', '/member-card', { token });
    assert.equal(next.body.card.balance, 20, 'the refreshed card');
    assert.ok(h.cards.cache.stats().revalidate >= 10);
  });
});
