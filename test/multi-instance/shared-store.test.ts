// Two `serve` processes behind one notify URL, sharing one store (PostgreSQL, Redis, then a Redis
// Cluster when MEMBERCARD_TEST_REDIS_CLUSTER names one) and
// one sandbox (WeChat Pay): whichever instance a request or a notification reaches, the
// outcome is the same, and what must happen once (a binding, a merchant operation) happens once.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createStore, type Store } from '../../src/store/index.js';
import { call } from '../support/http.js';
import { sleep, waitFor } from '../support/poll.js';
import type { TestSandbox } from '../support/sandbox.js';
import { deliver, Deployment, type NotifyBalancer, type ServeProcess } from '../support/serve.js';
import { clusterUnavailable, freshClusterStore } from '../support/cluster.js';
import { unavailable } from '../support/services.js';

const variants = [
  { engine: 'postgres', skip: await unavailable('postgres', 'two instances on postgres') },
  { engine: 'redis', skip: await unavailable('redis', 'two instances on redis') },
  { engine: 'Redis Cluster', skip: await clusterUnavailable('two instances on a Redis Cluster') },
] as const;

for (const { engine, skip } of variants) {
  describe(`two serve processes sharing one ${engine} store and one sandbox`, { skip: skip ?? false }, () => {
    let deployment: Deployment;
    let wechat: TestSandbox;
    let balancer: NotifyBalancer;
    let a: ServeProcess;
    let b: ServeProcess;
    /** The same store opened by the test, to look at what the instances wrote. */
    let peek: Store;
    const adminToken = randomBytes(32).toString('hex');

    before(async () => {
      deployment = await (engine === 'Redis Cluster'
        ? Deployment.on(freshClusterStore('serve'))
        : Deployment.start(engine));
      ({ wechat, balancer } = deployment);
      // Started at once: schema creation / migration must not collide.
      [a, b] = await Promise.all([
        deployment.serve(undefined, { MEMBERCARD_ADMIN_TOKEN: adminToken }),
        deployment.serve(undefined, { MEMBERCARD_ADMIN_TOKEN: adminToken }),
      ]);
      peek = createStore(deployment.store.url);
      await peek.init();
    });

    after(async () => {
      await peek?.close();
      await deployment?.close();
    });

    it('a notification delivered to one instance makes the card readable through the other', async () => {
      const user = await wechat.newUser();
      balancer.route = a.url;
      const given = await wechat.giveCard(user, { balance: 500 });
      const status = await wechat.waitDelivered(given.notification_id);
      assert.equal(status.attempts, 1, 'answered 2xx at the first attempt');
      assert.deepEqual(
        balancer.forwarded.filter((f) => f.id === given.notification_id).map((f) => [f.to, f.status]),
        [[a.url, 204]],
        'only instance A saw the notification',
      );
      assert.equal(b.count('notification applied') + b.count('duplicate notification ignored'), 0);

      const token = await wechat.login(`${b.url}/api/login`, user);
      const mine = await call('GET', `${b.url}/api/member-card`, { token });
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.body.card.code, given.code);
      assert.equal(mine.body.card.balance, 500);
    });

    it('the same notification delivered to both at once binds exactly once', async () => {
      balancer.route = 'capture';
      const users = await Promise.all(Array.from({ length: 5 }, () => wechat.newUser()));
      const given = await Promise.all(users.map((u) => wechat.giveCard(u)));
      const captured = await Promise.all(given.map((g) => balancer.take(g.notification_id)));
      const before = { a: a.count('notification applied'), b: b.count('notification applied') };
      const beforeDup = { a: a.count('duplicate notification ignored'), b: b.count('duplicate notification ignored') };

      // Each genuine, signed notification reaches both instances in the same instant.
      const statuses = await Promise.all(
        captured.flatMap((n) => [
          deliver(`${a.url}/api/member-card/notify`, n),
          deliver(`${b.url}/api/member-card/notify`, n),
        ]),
      );
      assert.deepEqual(statuses, Array(10).fill(204), 'both answer 2xx, so WeChat Pay stops resending');

      // Log lines may trail the answer by a moment.
      const applied = await waitFor('both instances to log each outcome', 5000, async () => {
        const ap = a.count('notification applied') - before.a + b.count('notification applied') - before.b;
        const dup =
          a.count('duplicate notification ignored') -
          beforeDup.a +
          b.count('duplicate notification ignored') -
          beforeDup.b;
        return ap + dup === 10 ? { ap, dup } : undefined;
      });
      assert.deepEqual(applied, { ap: 5, dup: 5 }, 'applied once per notification, across both instances');
      for (const [i, g] of given.entries()) {
        assert.equal((await peek.getNotification(g.notification_id))?.eventType, 'MEMBERCARD.ACCEPT_CARD');
        const binding = await peek.getBinding(wechat.credentials.cardId, g.code);
        assert.equal(binding?.status, 'active');
        assert.equal(binding?.unionid, users[i]?.unionid);
      }
      // And each user reads their card through either instance.
      const user = users[0] as (typeof users)[number];
      for (const instance of [a, b]) {
        const token = await wechat.login(`${instance.url}/api/login`, user);
        const mine = await call('GET', `${instance.url}/api/member-card`, { token });
        assert.equal(mine.status, 200, mine.text);
        assert.equal(mine.body.card.code, given[0]?.code);
      }
    });

    it('a login token issued by one instance works on the other, and logging out on one ends it on both', async () => {
      const user = await wechat.newUser();
      balancer.route = b.url;
      const given = await wechat.giveCard(user);
      await wechat.waitDelivered(given.notification_id);

      const token = await wechat.login(`${a.url}/api/login`, user);
      const fromB = await call('GET', `${b.url}/api/member-card`, { token });
      assert.equal(fromB.status, 200, fromB.text);
      assert.equal(fromB.body.card.code, given.code);
      const open = await call('GET', `${b.url}/api/member-card/open`, { token });
      assert.equal(open.status, 200, open.text);

      // A reads the session too, so it holds it in its session cache (1 s by default).
      assert.equal((await call('GET', `${a.url}/api/member-card`, { token })).status, 200);
      const out = await call('POST', `${b.url}/api/logout`, { token });
      assert.equal(out.status, 204, out.text);
      const atB = await call('GET', `${b.url}/api/member-card`, { token });
      assert.equal(atB.status, 401, 'at once on the instance that logged out');
      // On the other instance within the session cache time, never later.
      const loggedOutAt = Date.now();
      let fromA = await call('GET', `${a.url}/api/member-card`, { token });
      while (fromA.status === 200 && Date.now() - loggedOutAt < 1500) {
        await sleep(50);
        fromA = await call('GET', `${a.url}/api/member-card`, { token });
      }
      assert.equal(fromA.status, 401, fromA.text);
      assert.equal(fromA.body.code, 'UNAUTHENTICATED');
      assert.ok(Date.now() - loggedOutAt <= 1500);
    });

    it('an outer_str issued by one instance is consumed once across both', async () => {
      // No unionid links the mini-program and the 服务号 for this person: only our outer_str
      // can tie the new card to the session user.
      const user = await wechat.newUser({ share_unionid: false });
      const token = await wechat.login(`${a.url}/api/login`, user);
      const open = await call('GET', `${a.url}/api/member-card/open`, { token });
      assert.equal(open.status, 200, open.text);
      const outerStr = open.body.extraData.outer_str as string;
      assert.match(outerStr, /^[A-Za-z0-9]{32}$/);

      // The same outer_str comes back on two cards (a replayed open-card link), and the two
      // notifications reach different instances at once.
      balancer.route = 'capture';
      const first = await wechat.giveCard(user, { outer_str: outerStr });
      const second = await wechat.giveCard(user, { outer_str: outerStr });
      const [n1, n2] = await Promise.all([balancer.take(first.notification_id), balancer.take(second.notification_id)]);
      const statuses = await Promise.all([
        deliver(`${b.url}/api/member-card/notify`, n1),
        deliver(`${a.url}/api/member-card/notify`, n2),
      ]);
      assert.deepEqual(statuses, [204, 204]);

      const cardId = wechat.credentials.cardId;
      const bindings = await Promise.all([peek.getBinding(cardId, first.code), peek.getBinding(cardId, second.code)]);
      assert.equal(bindings.filter((x) => x?.status === 'active').length, 2, 'both cards are bound');
      const tied = bindings.filter((x) => x?.userOpenid === user.mp_openid);
      assert.equal(tied.length, 1, `exactly one binding took the outer_str: ${JSON.stringify(bindings)}`);
      const winner = (tied[0] as NonNullable<(typeof tied)[0]>).code;
      assert.equal(bindings.find((x) => x?.code !== winner)?.userOpenid, undefined);

      // Both instances resolve the session user to that one card.
      for (const instance of [a, b]) {
        const mine = await call('GET', `${instance.url}/api/member-card`, { token });
        assert.equal(mine.status, 200, mine.text);
        assert.equal(mine.body.card.code, winner);
      }
      // A third use of the same outer_str, through either instance, ties nothing more.
      balancer.route = b.url;
      const third = await wechat.giveCard(user, { outer_str: outerStr });
      await wechat.waitDelivered(third.notification_id);
      assert.equal((await peek.getBinding(cardId, third.code))?.userOpenid, undefined);
    });

    it('a merchant operation sent to A and retried on B is applied once, with one journal entry', async () => {
      const user = await wechat.newUser();
      balancer.route = b.url;
      const given = await wechat.giveCard(user, { balance: 1000 });
      await wechat.waitDelivered(given.notification_id);
      const requestId = `shared-${randomUUID()}`;
      const body = { code: given.code, amount: 250, remark: 'two instances', request_id: requestId };
      const headers = { 'x-admin-token': adminToken };
      const first = await call('POST', `${a.url}/api/member-card/admin/balance`, { body, headers });
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.operation.state, 'applied');
      assert.equal(first.body.operation.after, 1250);
      const retried = await call('POST', `${b.url}/api/member-card/admin/balance`, { body, headers });
      assert.equal(retried.status, 200, retried.text);
      assert.deepEqual(retried.body, first.body, 'the retry answers the same entry');
      assert.equal((await wechat.card(given.code)).balance, 1250, 'WeChat Pay applied it once');
      const cardId = wechat.credentials.cardId;
      assert.equal((await peek.getOperation(cardId, requestId))?.state, 'applied');
      assert.deepEqual(
        (await peek.listAudit(cardId, given.code, 10)).map((e) => e.requestId),
        [requestId],
      );
    });

    it('no instance logged an unexpected error, and both are still up', () => {
      for (const instance of [a, b]) {
        assert.ok(instance.alive);
        assert.deepEqual(
          instance.logs.filter((l) => l.level === 'error'),
          [],
        );
      }
    });
  });
}
