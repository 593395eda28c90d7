// Coherent caches across instances (issue 15): two memberCard() instances, each with its own store
// object on one Redis (then one PostgreSQL) and one sandbox. A change made through A drops the card
// on B at once; a killed bus connection comes back, and until then B keeps cards for the short TTL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { wechatLogin } from '../../src/login/index.js';
import type { LogFields, LogLevel } from '../../src/log.js';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import type { MemberCardOptions } from '../../src/options.js';
import { createStore } from '../../src/store/index.js';
import { busApplicationName } from '../../src/store/postgres-bus.js';
import { busConnectionName } from '../../src/store/redis-bus.js';
import { hasSharedCache } from '../../src/store/roles.js';
import type { Store } from '../../src/store/types.js';
import { BACKGROUNDS } from '../support/harness.js';
import { call, listen, type Listening } from '../support/http.js';
import { sleep, waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import {
  freshStore,
  POSTGRES_URL,
  REDIS_URL,
  unavailable,
  type ServerEngine,
  type TestStore,
} from '../support/services.js';

interface Instance {
  url: string;
  cards: MemberCard;
  logs: Array<{ level: LogLevel; message: string; fields?: LogFields }>;
  close(): Promise<void>;
}

async function instance(
  sandbox: TestSandbox,
  storeUrl: string,
  notify: boolean,
  extra: Partial<MemberCardOptions> = {},
): Promise<Instance> {
  const store: Store = createStore(storeUrl);
  const logs: Instance['logs'] = [];
  const log = (level: LogLevel, message: string, fields?: LogFields) => logs.push({ level, message, fields });
  const cards = memberCard(
    sandbox.cardOptions(store, {
      selfService: { backgrounds: BACKGROUNDS },
      // Long enough that only an invalidation explains a new value; the short TTL is 10 s too.
      cache: { ttlMs: 10_000, coherentTtlMs: 60_000, staleWhileRevalidateMs: 0 },
      log,
      ...extra,
    }),
  );
  const login = wechatLogin({
    appid: sandbox.credentials.miniProgramAppid,
    secret: sandbox.credentials.miniProgramSecret,
    baseURL: sandbox.credentials.baseURL,
    store,
    log,
  });
  const app = new Koa();
  app.silent = true;
  app.use(login.middleware()).use(login.routes()).use(cards.routes()).use(cards.allowedMethods());
  const server: Listening = await listen(app.callback());
  await cards.ready();
  if (notify) await cards.client.setNotifyUrl(`${server.url}/member-card/notify`);
  return {
    url: server.url,
    cards,
    logs,
    close: async () => {
      await server.close();
      await cards.close();
      await login.close();
      await store.close();
    },
  };
}

interface Pair {
  sandbox: TestSandbox;
  place: TestStore;
  a: Instance;
  b: Instance;
}

/**
 * Registers the hooks of a describe that runs two instances on one fresh store and one sandbox:
 * A, where WeChat Pay sends notifications, and B. The pair is filled in before the tests run.
 */
function twoInstances(engine: ServerEngine, label: string, extra: Partial<MemberCardOptions> = {}): Pair {
  const pair = {} as Pair;
  before(async () => {
    pair.sandbox = await TestSandbox.start();
    pair.place = freshStore(engine, label);
    pair.a = await instance(pair.sandbox, pair.place.url, true, extra);
    pair.b = await instance(pair.sandbox, pair.place.url, false, extra);
  });
  after(async () => {
    await pair.a?.close();
    await pair.b?.close();
    await pair.sandbox?.close();
    await pair.place?.cleanup();
  });
  return pair;
}

/** Drops the bus connections of this test's store on the server side (both instances'). */
async function killBus(engine: ServerEngine, place: string): Promise<number> {
  if (engine === 'redis') {
    const { Redis } = await import('ioredis');
    const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const list = (await admin.client('LIST')) as string;
      const ids = list
        .split('\n')
        .filter((line) => line.includes(` name=${busConnectionName(place)} `))
        .map((line) => /id=(\d+)/.exec(line)?.[1])
        .filter((id): id is string => id !== undefined);
      for (const id of ids) await admin.client('KILL', 'ID', id);
      return ids.length;
    } finally {
      admin.disconnect();
    }
  }
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1',
      [busApplicationName(place)],
    );
    return rows.length;
  } finally {
    await admin.end();
  }
}

for (const engine of ['redis', 'postgres'] as const) {
  const skip = await unavailable(engine, `cache coherence on ${engine}`);

  describe(`coherent caches: two instances on one ${engine} store`, { skip: skip ?? false }, () => {
    let sandbox: TestSandbox;
    let place: TestStore;
    let a: Instance;
    let b: Instance;
    const pair = twoInstances(engine, 'bus');
    before(async () => {
      ({ sandbox, place, a, b } = pair);
      await waitFor('both buses live', 5000, () => a.cards.cache.coherent && b.cards.cache.coherent);
    });

    async function member(balance: number) {
      const user = await sandbox.newUser();
      const given = await sandbox.giveCard(user, { balance });
      await sandbox.waitDelivered(given.notification_id);
      return { code: given.code, token: await sandbox.login(`${b.url}/login`, user), user };
    }
    const balanceOn = async (i: Instance, token: string) =>
      (await call('GET', `${i.url}/member-card`, { token })).body.card.balance as number;

    test('a self-service edit on A, a notification to A, a merchant operation on A: B sees each at once', async () => {
      const { code, token } = await member(100);
      assert.equal(await balanceOn(b, token), 100);
      // Changed behind every instance's back: B keeps its copy (coherentTtlMs)…
      await sandbox.setCard(code, { balance: 150 });
      assert.equal(await balanceOn(b, token), 100);
      // …until A changes the card: the bus drops it on B.
      const edit = await call('PATCH', `${a.url}/member-card`, {
        token,
        body: { background_picture_url: BACKGROUNDS[1] },
      });
      assert.equal(edit.status, 200, edit.text);
      await waitFor('B to drop the card', 2000, async () => (await balanceOn(b, token)) === 150);
      const card = (await call('GET', `${b.url}/member-card`, { token })).body.card;
      assert.equal(card.background_picture_url, BACKGROUNDS[1]);

      await sandbox.setCard(code, { balance: 170 });
      const { notification_id } = await sandbox.cardEvent(code, { event_type: 'USER_MODIFY_INFORMATION' });
      await sandbox.waitDelivered(notification_id);
      await waitFor(
        'B to drop the card after the notification to A',
        2000,
        async () => (await balanceOn(b, token)) === 170,
      );

      await a.cards.operations.adjustBalance({ code, amount: 30, requestId: `coherence-${code}` });
      await waitFor(
        'B to drop the card after the operation on A',
        2000,
        async () => (await balanceOn(b, token)) === 200,
      );
      assert.ok(b.cards.cache.stats().hit > 0, 'B answered from its cache in between');
    });

    test(
      'the shared second level (Redis): a card read on A is not read from WeChat Pay again on B',
      {
        skip: engine === 'redis' ? false : 'PostgreSQL has no shared level (docs/stores.md)',
      },
      async () => {
        const { code, token } = await member(42);
        const reads = async () =>
          (await sandbox.requests(code)).filter((r) => r.method === 'GET' && r.path.startsWith('/v3/')).length;
        const before = await reads();
        assert.equal(await balanceOn(a, token), 42);
        assert.equal(await reads(), before + 1);
        const sharedHits = b.cards.cache.stats().shared_hit;
        assert.equal(await balanceOn(b, token), 42);
        assert.equal(await reads(), before + 1, 'B answered from the shared level');
        assert.equal(b.cards.cache.stats().shared_hit, sharedHits + 1);
        // A change drops the shared copy too: B reads afresh, and A then finds B's read there.
        await sandbox.setCard(code, { balance: 43 });
        await b.cards.operations.adjustBalance({ code, amount: 1, requestId: `shared-${code}` });
        await waitFor('A to drop the card', 2000, async () => (await balanceOn(a, token)) === 44);
        assert.equal(await balanceOn(b, token), 44);
      },
    );

    test(
      'a read of WeChat Pay ends its claim, answered or failed: the next read, here or on B, does not wait for it',
      { skip: engine === 'redis' ? false : 'PostgreSQL has no shared level (docs/stores.md)' },
      async () => {
        // Before the fix a claim outlived its read (2 s): an instance re-reading its own card just
        // after the TTL waited 0.5 s for a put that had already happened.
        const { code, token } = await member(7);
        const { cardId } = sandbox.credentials;
        const store = createStore(place.url);
        assert.ok(hasSharedCache(store));
        await store.init();
        try {
          assert.equal(await balanceOn(a, token), 7);
          // The read's put is not awaited by its answer.
          await waitFor('the shared copy', 2000, async () => (await store.getCachedCard(cardId, code)) !== undefined);
          assert.equal(
            (await store.claimCardRead(cardId, code, 5000, Number.MAX_SAFE_INTEGER)).claimed,
            true,
            'the answered read left no claim',
          );
          await store.releaseCardRead(cardId, code);

          // A change drops the card everywhere; then WeChat Pay fails the next read of it.
          await a.cards.operations.adjustBalance({ code, amount: 1, requestId: `claim-${code}` });
          await waitFor('the shared copy dropped', 2000, async () => !(await store.getCachedCard(cardId, code)));
          await sandbox.fault({
            status: 500,
            path: `/v3/marketing/membercard-open/cards/${cardId}/codes/${code}`,
            method: 'GET',
          });
          const failed = await call('GET', `${a.url}/member-card`, { token });
          assert.ok(failed.status >= 500, `WeChat Pay failing, nothing kept: an error (${failed.status})`);
          await sandbox.clearFaults();
          await waitFor('the failed read to end its claim', 2000, async () => {
            if (!(await store.claimCardRead(cardId, code, 5000, Number.MAX_SAFE_INTEGER)).claimed) return false;
            await store.releaseCardRead(cardId, code);
            return true;
          });
        } finally {
          await sandbox.clearFaults();
          await store.close();
        }
      },
    );

    test('a killed bus connection reconnects; one warning per outage; coherence works again', async () => {
      const { code, token } = await member(10);
      assert.equal(await balanceOn(b, token), 10);
      const killed = await killBus(engine, place.place);
      assert.ok(killed >= 2, `both instances' bus connections found (${killed})`);
      await waitFor('B to notice', 5000, () => b.logs.some((l) => l.message.startsWith('cache bus subscription lost')));
      await waitFor('both buses live again', 10_000, () => a.cards.cache.coherent && b.cards.cache.coherent);
      const lost = b.logs.filter((l) => l.message.startsWith('cache bus subscription lost'));
      assert.equal(lost.length, 1, 'one warning for the outage');
      assert.equal(JSON.stringify(b.logs).includes(code), false, 'no card code in any log line');
      // Read again after the reconnection (one read before it may have missed a change).
      await sandbox.setCard(code, { balance: 11 });
      await sleep(20);
      const before = await balanceOn(b, token);
      assert.ok(before === 10 || before === 11);
      await sandbox.setCard(code, { balance: 12 });
      await a.cards.operations.adjustBalance({ code, amount: 1, requestId: `reconnect-${code}` });
      await waitFor('B to drop the card after the reconnection', 2000, async () => (await balanceOn(b, token)) === 13);
    });
  });
}

for (const engine of ['redis', 'postgres'] as const) {
  const skip = await unavailable(engine, `upstream budget on ${engine}`);

  describe(
    `the upstream budget is one bucket for two instances on one ${engine} store`,
    { skip: skip ?? false },
    () => {
      let sandbox: TestSandbox;
      let a: Instance;
      let b: Instance;
      // Four reads, then (almost) nothing: one refill per 1,000 s.
      const pair = twoInstances(engine, 'budget', {
        upstream: { perSecond: 0.001, burst: 4 },
        cache: { ttlMs: 50, coherentTtlMs: 50, staleWhileRevalidateMs: 0 },
      });
      before(() => ({ sandbox, a, b } = pair));

      test('reads on A and B take from one bucket; over it: stale if read before, else 429 RATE_LIMITED', async () => {
        const members = [];
        for (let i = 0; i < 4; i++) {
          const user = await sandbox.newUser();
          const given = await sandbox.giveCard(user, { balance: i });
          await sandbox.waitDelivered(given.notification_id);
          members.push({ code: given.code, token: await sandbox.login(`${a.url}/login`, user) });
        }
        const [m0, m1, m2, m3] = members as [
          (typeof members)[0],
          (typeof members)[0],
          (typeof members)[0],
          (typeof members)[0],
        ];
        const before = await sandbox.upstreamCount();
        // A: card + template (2 tokens); B: card + template (2 tokens): the shared bucket is empty.
        assert.equal((await call('GET', `${a.url}/member-card`, { token: m0.token })).status, 200);
        assert.equal((await call('GET', `${b.url}/member-card`, { token: m1.token })).status, 200);
        assert.equal(await sandbox.upstreamCount(), before + 4);
        const refusedB = await call('GET', `${b.url}/member-card`, { token: m2.token });
        assert.equal(refusedB.status, 429, 'B has no tokens of its own: the bucket is shared');
        assert.equal(refusedB.body.code, 'RATE_LIMITED');
        assert.ok(Number(refusedB.headers.get('retry-after')) >= 1);
        const refusedA = await call('GET', `${a.url}/member-card`, { token: m3.token });
        assert.equal(refusedA.status, 429);
        assert.equal(await sandbox.upstreamCount(), before + 4, 'nothing over the budget reached WeChat Pay');
        await sleep(80);
        const stale = await call('GET', `${a.url}/member-card`, { token: m0.token });
        assert.equal(stale.status, 200, stale.text);
        assert.equal(stale.body.stale, true, 'read before: answered stale');
        assert.equal(stale.body.card.balance, 0);
        assert.ok(a.cards.cache.stats().budget_refused >= 2);
        assert.ok(b.cards.cache.stats().budget_refused >= 1);
      });
    },
  );
}
