// Where the Redis store's keys land on a Redis Cluster: the keys of one card code (and of one user)
// sit in one slot, and many cards spread over the nodes. Two `serve` processes on a cluster store
// are tested with the other engines in shared-store.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Cluster } from 'ioredis';
import { createStore, RedisStore } from '../../src/store/index.js';
import { cardLockName, RedisKeys } from '../../src/store/redis-keys.js';
import { clusterClient, clusterUnavailable, freshClusterStore } from '../support/cluster.js';

const skip = await clusterUnavailable('key placement on a Redis Cluster');

describe('Redis Cluster key placement', { skip: skip ?? false }, () => {
  const place = freshClusterStore('slots');
  let store: RedisStore;
  let redis: Cluster;
  const keys = new RedisKeys(place.place);
  // A fixed card id (the prefix keeps runs apart), so which slots the keys land in is fixed too.
  const cardId = 'pClusterSlotTest';
  const slot = async (key: string): Promise<number> => Number(await redis.cluster('KEYSLOT', key));

  before(async () => {
    store = createStore(place.url) as RedisStore;
    await store.init();
    redis = clusterClient();
    await redis.connect();
  });

  after(async () => {
    redis?.disconnect();
    await store?.close();
    await place.cleanup();
  });

  it("every key of one card code, and of one user, is in that card's (that user's) slot", async () => {
    const code = '880001';
    const user = { openid: 'mp-slot', unionid: 'u-slot' };
    const outerStr = await store.issueOuterStr(cardId, user, `os-${randomUUID()}`, Date.now() + 60_000);
    const notificationId = `n-${randomUUID()}`;
    const record = { id: notificationId, eventType: 'MEMBERCARD.ACCEPT_CARD', cardId, code, receivedAt: Date.now() };
    assert.equal(await store.applyNotification(record, { kind: 'bind', cardId, code, outerStr }), true);
    const lock = cardLockName(cardId, code);
    assert.equal(await store.acquireLock(lock, 'tok', 10_000), true);
    const now = Date.now();
    const op = {
      cardId,
      requestId: 'r-slot',
      code,
      kind: 'balance' as const,
      amount: 5,
      state: 'pending' as const,
      outRequestNo: 'o'.repeat(32),
      before: 0,
      after: 5,
      createdAt: now,
      updatedAt: now,
    };
    assert.deepEqual(await store.insertOperation(op, { lock, token: 'tok' }), { outcome: 'inserted' });
    await store.putMemberCode('mc-hash', { cardId, code, userOpenid: user.openid, expiresAt: Date.now() + 60_000 });
    const pendingCode = '880002';
    await store.insertOperation({ ...op, requestId: 'r-pending', code: pendingCode }, { lock, token: 'tok' });

    const cardKeys = [
      keys.binding(cardId, code),
      keys.notificationMarker(cardId, code, notificationId),
      keys.operation(cardId, code, op.requestId),
      keys.pendingOps(cardId, code),
      keys.memberCodePointer(cardId, code),
      keys.lock(lock),
    ];
    for (const key of cardKeys) assert.equal(await redis.exists(key), 1, `${key} was written`);
    const cardSlots = new Set(await Promise.all([...cardKeys, keys.audit(cardId, code)].map(slot)));
    assert.equal(cardSlots.size, 1, 'one slot for the card code');

    const userKeys = [keys.userIndex(cardId, user.openid), keys.issuedOuterStr(cardId, user.openid)];
    assert.equal(await redis.exists(userKeys[0]!), 1);
    assert.equal(new Set(await Promise.all(userKeys.map(slot))).size, 1, 'one slot for the user');
    // A lock on another card's code is not in this card's slot.
    assert.notEqual(await slot(keys.lock(cardLockName(cardId, pendingCode))), [...cardSlots][0]);
  });

  it("runs on the host's lazy Cluster, connecting it, and close() never quits it", async () => {
    const host = clusterClient();
    const mine = createStore({ engine: 'redis', client: host, prefix: place.place });
    try {
      await mine.init();
      assert.equal(host.status, 'ready', 'init() connected the lazy Cluster');
      const record = { id: `n-${randomUUID()}`, eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() };
      assert.equal(await mine.applyNotification(record, { kind: 'bind', cardId, code: 'H1' }), true);
      // The same keys as through the URL: the store on our own client reads them.
      assert.equal((await store.getBinding(cardId, 'H1'))?.status, 'active');
      await mine.close();
      assert.equal(host.status, 'ready', 'close() did not quit the host Cluster');
      assert.equal(await host.exists(keys.binding(cardId, 'H1')), 1);
    } finally {
      host.disconnect();
    }
  });

  it("many cards' keys spread over more than one node", async () => {
    const codes = Array.from({ length: 40 }, (_, i) => `77${String(i).padStart(4, '0')}`);
    await Promise.all(
      codes.map((code) =>
        store.applyNotification(
          { id: `n-${randomUUID()}`, eventType: 'MEMBERCARD.ACCEPT_CARD', receivedAt: Date.now() },
          { kind: 'bind', cardId, code, unionid: `u-${code}` },
        ),
      ),
    );
    const perNode: number[] = [];
    for (const node of redis.nodes('master')) {
      let count = 0;
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', `${place.place}*b:*`, 'COUNT', 1000);
        cursor = next;
        count += found.length;
      } while (cursor !== '0');
      perNode.push(count);
    }
    assert.ok(perNode.reduce((x, y) => x + y, 0) >= codes.length, `bindings found: ${perNode.join(', ')}`);
    assert.ok(perNode.filter((n) => n > 0).length >= 2, `bindings per node: ${perNode.join(', ')}`);
    for (const code of codes) assert.equal((await store.findBindingByUnionid(cardId, `u-${code}`))?.code, code);
  });
});
