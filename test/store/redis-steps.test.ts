// The Redis store's changes that span slots are series of single-slot steps (src/store/redis-bindings.ts,
// redis-journal.ts). Each test here leaves the keys as a crash between two steps would (written with
// a plain client, as the step before the crash wrote them), then makes the retry that follows a
// crash (WeChat Pay's redelivery, the merchant's retried request) and checks that it finishes the
// change exactly once. On one node, and on the Redis Cluster when MEMBERCARD_TEST_REDIS_CLUSTER is set.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createStore, type RedisStore } from '../../src/store/index.js';
import { cardLockName, RedisKeys } from '../../src/store/redis-keys.js';
import type { NotificationRecord, Operation } from '../../src/store/types.js';
import { CLUSTER_NODES, clusterUnavailable, freshClusterStore } from '../support/cluster.js';
import { freshStore, REDIS_URL, unavailable, type TestStore } from '../support/services.js';

const uid = (): string => randomUUID().replace(/-/g, '').slice(0, 12);
const record = (cardId: string, code: string, id = `n-${uid()}`): NotificationRecord => ({
  id,
  eventType: 'MEMBERCARD.ACCEPT_CARD',
  cardId,
  code,
  receivedAt: Date.now(),
});

const targets: { name: string; skip: string | undefined; place: TestStore; raw: () => Redis | Cluster }[] = [
  {
    name: 'one node',
    skip: await unavailable('redis', 'Redis steps after a crash'),
    place: freshStore('redis', 'steps'),
    raw: () => new Redis(REDIS_URL, { lazyConnect: true }),
  },
  {
    name: 'Redis Cluster',
    skip: await clusterUnavailable('Redis steps after a crash'),
    place: freshClusterStore('steps'),
    raw: () => new Cluster(CLUSTER_NODES, { lazyConnect: true }),
  },
];

for (const target of targets) {
  describe(`Redis steps finish after a crash between them (${target.name})`, { skip: target.skip ?? false }, () => {
    let store: RedisStore;
    let raw: Redis | Cluster;
    const keys = new RedisKeys(target.place.place);
    /** The outer_str's record as the take step leaves it: taken by a notification. */
    const markTaken = async (outerStr: string, by: string): Promise<void> => {
      const o = JSON.parse((await raw.get(keys.outerStr(outerStr))) ?? 'null') as Record<string, unknown>;
      await raw.set(keys.outerStr(outerStr), JSON.stringify({ ...o, takenBy: by }), 'KEEPTTL');
    };

    before(async () => {
      store = createStore(target.place.url) as RedisStore;
      await store.init();
      raw = target.raw();
      raw.on('error', () => undefined);
    });

    after(async () => {
      raw?.disconnect();
      await store?.close();
      await target.place.cleanup();
    });

    it('crashed after taking the outer_str: others wait, then bind without it; its redelivery binds', async () => {
      const cardId = `p${uid()}`;
      const os = await store.issueOuterStr(cardId, { openid: 'mp-crash' }, `os-${uid()}`, Date.now() + 60_000);
      const crashed = record(cardId, 'A1');
      await markTaken(os, crashed.id);

      // Another notification naming the same outer_str (a replayed link) waits for it, then
      // counts it as consumed: it binds its code, but not to the outer_str's user.
      const started = Date.now();
      const other = record(cardId, 'A2');
      assert.equal(await store.applyNotification(other, { kind: 'bind', cardId, code: 'A2', outerStr: os }), true);
      assert.ok(Date.now() - started >= 1000, 'it waited for the notification holding the outer_str');
      assert.equal((await store.getBinding(cardId, 'A2'))?.userOpenid, undefined);

      // WeChat Pay redelivers the crashed notification: it finishes, and only it took the outer_str.
      assert.equal(await store.applyNotification(crashed, { kind: 'bind', cardId, code: 'A1', outerStr: os }), true);
      assert.equal((await store.getBinding(cardId, 'A1'))?.userOpenid, 'mp-crash');
      assert.equal((await store.findBindingByUser(cardId, 'mp-crash'))?.code, 'A1');
      assert.equal(await raw.exists(keys.outerStr(os)), 0, 'consumed');
      assert.equal(await store.applyNotification(crashed, { kind: 'bind', cardId, code: 'A1', outerStr: os }), false);
    });

    it('crashed after binding: the redelivery is a duplicate that consumes the outer_str, records the id', async () => {
      const cardId = `p${uid()}`;
      const os = await store.issueOuterStr(cardId, { openid: 'mp-late' }, `os-${uid()}`, Date.now() + 60_000);
      const n = record(cardId, 'B1');
      assert.equal(await store.applyNotification(n, { kind: 'bind', cardId, code: 'B1', outerStr: os }), true);
      // As if the process died right after the card's step: the outer_str still taken, no record.
      await raw.set(keys.outerStr(os), JSON.stringify({ openid: 'mp-late', expiresAt: Date.now() + 60_000, cardId }));
      await markTaken(os, n.id);
      await raw.del(keys.notification(n.id));
      assert.equal(await store.getNotification(n.id), undefined);

      assert.equal(await store.applyNotification(n, { kind: 'bind', cardId, code: 'B1', outerStr: os }), false);
      assert.equal(await raw.exists(keys.outerStr(os)), 0, 'the outer_str is consumed, not left taken');
      assert.equal((await store.getNotification(n.id))?.id, n.id);
      assert.equal((await store.findBindingByUser(cardId, 'mp-late'))?.code, 'B1');
    });

    it('crashed after a refusal: the redelivery makes the outer_str pending again, for its user to use', async () => {
      const cardId = `p${uid()}`;
      const holder = await store.issueOuterStr(cardId, { openid: 'mp-holder' }, `os-${uid()}`, Date.now() + 60_000);
      await store.applyNotification(record(cardId, 'C1'), { kind: 'bind', cardId, code: 'C1', outerStr: holder });
      const os = await store.issueOuterStr(cardId, { openid: 'mp-second' }, `os-${uid()}`, Date.now() + 60_000);
      const n = record(cardId, 'C1');
      const refused: string[] = [];
      const observer = { outerStrRefused: (why: string) => refused.push(why) };
      assert.equal(
        await store.applyNotification(n, { kind: 'bind', cardId, code: 'C1', outerStr: os }, observer),
        true,
      );
      assert.deepEqual(refused, ['code_held']);
      await markTaken(os, n.id);
      await raw.del(keys.notification(n.id));

      assert.equal(
        await store.applyNotification(n, { kind: 'bind', cardId, code: 'C1', outerStr: os }, observer),
        false,
      );
      assert.deepEqual(refused, ['code_held'], 'a duplicate reports nothing');
      const again = await store.issueOuterStr(cardId, { openid: 'mp-second' }, `os-${uid()}`, Date.now() + 60_000);
      assert.equal(again, os, 'still the user’s pending outer_str');
      assert.equal(
        await store.applyNotification(record(cardId, 'C2'), { kind: 'bind', cardId, code: 'C2', outerStr: os }),
        true,
      );
      assert.equal((await store.getBinding(cardId, 'C2'))?.userOpenid, 'mp-second');
      assert.equal((await store.getBinding(cardId, 'C1'))?.userOpenid, 'mp-holder');
    });

    it('a journal claim never written: the retry writes it; another code waits, then takes it over', async () => {
      const cardId = `p${uid()}`;
      const now = Date.now();
      const op = (requestId: string, code: string): Operation => ({
        cardId,
        requestId,
        code,
        kind: 'balance',
        amount: 1,
        state: 'pending',
        outRequestNo: uid().padEnd(32, '0'),
        before: 0,
        after: 1,
        createdAt: now,
        updatedAt: now,
      });
      const lockOf = async (code: string): Promise<{ lock: string; token: string }> => {
        const lock = cardLockName(cardId, code);
        assert.equal(await store.acquireLock(lock, 'tok', 10_000), true);
        return { lock, token: 'tok' };
      };
      const [d1, d2] = [await lockOf('D1'), await lockOf('D2')];

      // Claimed for D1 by a process that died before inserting: its retry inserts.
      await raw.hset(keys.operationIndex(cardId, 'r1'), 'code', 'D1', 'at', String(now));
      assert.equal(await store.getOperation(cardId, 'r1'), undefined);
      assert.deepEqual(await store.insertOperation(op('r1', 'D1'), d1), { outcome: 'inserted' });
      assert.equal((await store.getOperation(cardId, 'r1'))?.code, 'D1');

      // The same request id for another code, while a fresh claim's writer may still be at work: busy.
      await raw.hset(keys.operationIndex(cardId, 'r2'), 'code', 'D1', 'at', String(now));
      assert.deepEqual(await store.insertOperation(op('r2', 'D2'), d2), { outcome: 'lock_lost' });
      // Once the claim is older than any lock lease could be, its entry can no longer be written.
      await raw.hset(keys.operationIndex(cardId, 'r2'), 'at', String(now - 16 * 60_000));
      assert.deepEqual(await store.insertOperation(op('r2', 'D2'), d2), { outcome: 'inserted' });
      assert.equal((await store.getOperation(cardId, 'r2'))?.code, 'D2');
      assert.deepEqual(
        (await store.listPendingOperations(cardId, 'D2')).map((o) => o.requestId),
        ['r2'],
      );
      // A written entry is never taken over, however old its claim.
      await raw.hset(keys.operationIndex(cardId, 'r1'), 'at', String(now - 60 * 60_000));
      const exists = await store.insertOperation(op('r1', 'D2'), d2);
      assert.equal(exists.outcome, 'exists');
      assert.equal(exists.outcome === 'exists' && exists.operation.code, 'D1');
    });

    it('a member code whose deletion was cut short is not valid: only the one the card names is', async () => {
      const cardId = `p${uid()}`;
      const entry = { cardId, code: 'E1', userOpenid: 'mp-e', expiresAt: Date.now() + 60_000 };
      await store.putMemberCode('h-old', entry);
      const oldRaw = await raw.get(keys.memberCode('h-old'));
      await store.putMemberCode('h-new', entry);
      // As if the process died after naming the new code, before deleting the old one.
      await raw.set(keys.memberCode('h-old'), oldRaw ?? '', 'PX', 60_000);
      assert.equal(await store.consumeMemberCode('h-old'), undefined);
      assert.equal((await store.consumeMemberCode('h-new'))?.code, 'E1');
      assert.equal(await store.consumeMemberCode('h-new'), undefined, 'once');
    });
  });
}
