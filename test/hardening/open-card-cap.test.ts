// Finding 4 of issue 12: "GET /open is uncapped. Each call stores another outer_str." Now a user has
// at most one live outer_str per card, handed out again (its life renewed) until it is used, and
// the route is rate-limited per user: 429 RATE_LIMITED with Retry-After.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadSqlite } from '../../src/store/drivers.js';
import { MemoryStore } from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';
import type { CardStore } from '../../src/store/types.js';
import { startHarness, type Harness } from '../support/harness.js';
import { freshStore, POSTGRES_URL, REDIS_URL, unavailable, type Engine, type TestStore } from '../support/services.js';

/** How many outer_str values the store holds, read from the engine itself, not through our code. */
async function outerStrsIn(place: TestStore): Promise<number> {
  if (place.engine === 'sqlite') {
    const db = (await loadSqlite()).open(place.place, 1000);
    try {
      return Number((db.prepare('SELECT count(*) AS n FROM outer_strs').get() as { n: number }).n);
    } finally {
      db.close();
    }
  }
  if (place.engine === 'postgres') {
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      return Number((await client.query(`SELECT count(*) AS n FROM "${place.place}".outer_strs`)).rows[0].n);
    } finally {
      await client.end();
    }
  }
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL);
  try {
    // Pending outer_strs are keys {o:<outer_str>} under the prefix (src/store/redis-keys.ts).
    return (await client.keys(`${place.place}{o:*`)).length;
  } finally {
    client.disconnect();
  }
}

for (const engine of ['sqlite', 'postgres', 'redis'] as const satisfies readonly Engine[]) {
  describe(`GET /open is capped (${engine})`, async () => {
    const skip = await unavailable(engine, 'GET /open cap');
    let h: Harness;
    let place: TestStore;
    before(async () => {
      if (skip) return;
      place = freshStore(engine, 'open_cap');
      h = await startHarness({ store: place.url });
    });
    after(async () => {
      if (skip) return;
      await h.close();
      await place.cleanup();
    });

    test(
      '50 calls from one user: one outer_str stored; past the burst of 10, 429 with Retry-After',
      { skip },
      async () => {
        const before = await outerStrsIn(place);
        const token = await h.login(await h.sandbox.newUser({ share_unionid: false }));
        const replies = [];
        for (let i = 0; i < 50; i++) replies.push(await h.api('GET', '/member-card/open', { token }));
        const ok = replies.filter((r) => r.status === 200);
        assert.equal(ok.length, 10, 'the default burst');
        assert.equal(new Set(ok.map((r) => r.body.extraData.outer_str)).size, 1, 'the same outer_str every time');
        for (const r of replies.filter((x) => x.status !== 200)) {
          assert.equal(r.status, 429);
          assert.equal(r.body.code, 'RATE_LIMITED');
          assert.match(r.headers.get('retry-after') ?? '', /^[1-9]\d*$/);
        }
        assert.equal((await outerStrsIn(place)) - before, 1);

        // Another user is counted on their own.
        const other = await h.login(await h.sandbox.newUser({ share_unionid: false }));
        const theirs = await h.api('GET', '/member-card/open', { token: other });
        assert.equal(theirs.status, 200);
        assert.notEqual(theirs.body.extraData.outer_str, ok[0]?.body.extraData.outer_str);
        assert.equal((await outerStrsIn(place)) - before, 2);
      },
    );
  });
}

describe('GET /open with a host store that has no issueOuterStr or takeTokens', () => {
  let h: Harness;
  let memory: MemoryStore;
  before(async () => {
    memory = new MemoryStore();
    // Only the methods a card store must have: an object made before these roles existed.
    const own = Object.fromEntries(
      methodsOf('card').map((m) => [
        m,
        (...a: unknown[]) => (memory as unknown as Record<string, (...b: unknown[]) => unknown>)[m]?.(...a),
      ]),
    ) as unknown as CardStore;
    h = await startHarness({
      store: memory,
      memberCard: { store: own, rateLimit: { open: { burst: 3, perMinute: 1 } } },
    });
  });
  after(async () => {
    await h.close();
    await memory.close();
  });

  test('each call issues a fresh outer_str, and the per-user limit is counted in memory', async () => {
    const token = await h.login(await h.sandbox.newUser({ share_unionid: false }));
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await h.api('GET', '/member-card/open', { token }));
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200, 429],
    );
    assert.equal(new Set(replies.slice(0, 3).map((r) => r.body.extraData.outer_str)).size, 3);
  });
});
