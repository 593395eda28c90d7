// A `serve` process killed with SIGKILL the instant it has answered WeChat Pay's notification
// (WeChat Pay got its 2xx and will never resend it) loses nothing: after a restart on the same
// store the binding, the de-duplication record and the login session are all there.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import type { TestSandbox } from '../support/sandbox.js';
import { deliver, Deployment, type NotifyBalancer, type ServeProcess } from '../support/serve.js';
import { unavailable } from '../support/services.js';

const engines = ['sqlite', 'postgres'] as const;

for (const engine of engines) {
  const skip = await unavailable(engine, `SIGKILL on ${engine}`);

  describe(
    `serve on ${engine}, killed with SIGKILL right after answering a notification`,
    { skip: skip ?? false },
    () => {
      let deployment: Deployment;
      let wechat: TestSandbox;
      let balancer: NotifyBalancer;
      const start = (): Promise<ServeProcess> => deployment.serve();

      before(async () => {
        deployment = await Deployment.start(engine);
        ({ wechat, balancer } = deployment);
      });

      after(() => deployment?.close());

      it('WeChat Pay sees 204, the process dies at once, and after a restart the card is bound', async () => {
        const first = await start();
        const user = await wechat.newUser();
        const token = await wechat.login(`${first.url}/api/login`, user);
        const none = await call('GET', `${first.url}/api/member-card`, { token });
        assert.equal(none.status, 404, none.text);

        // The balancer passes WeChat Pay's notification to the instance and, the moment the
        // instance's status line arrives, kills it: before WeChat Pay even hears the answer.
        balancer.route = first.url;
        let killedAfter: number | undefined;
        balancer.onAnswered = (status) => {
          killedAfter = status;
          first.child.kill('SIGKILL');
        };
        const given = await wechat.giveCard(user, { balance: 1234 });
        const exit = await Promise.race([
          first.exited,
          new Promise<never>((_, fail) =>
            setTimeout(() => fail(new Error('the instance was not killed within 10 s')), 10_000),
          ),
        ]);
        balancer.onAnswered = undefined;
        assert.equal(killedAfter, 204);
        assert.equal(exit.signal, 'SIGKILL');
        const delivered = await wechat.waitDelivered(given.notification_id);
        assert.equal(delivered.attempts, 1, 'WeChat Pay got its 2xx at once and will not resend');

        const second = await start();
        const mine = await call('GET', `${second.url}/api/member-card`, { token });
        assert.equal(mine.status, 200, `the session and the binding survived: ${mine.text}`);
        assert.equal(mine.body.card.code, given.code);
        assert.equal(mine.body.card.balance, 1234);

        // The de-duplication record survived too: WeChat Pay's notification, redelivered after
        // the crash, is recognised as already applied.
        const original = await balancer.take(given.notification_id);
        assert.equal(await deliver(`${second.url}/api/member-card/notify`, original), 204);
        await waitFor('the outcome to be logged', 5000, async () =>
          second.count('duplicate notification ignored') === 1 ? true : undefined,
        );
        assert.equal(second.count('notification applied'), 0);
      });

      it('several notifications answered at once, then SIGKILL: every one of them is kept', async () => {
        const third = await start();
        const users = await Promise.all(Array.from({ length: 4 }, () => wechat.newUser()));
        balancer.route = 'capture';
        const given = await Promise.all(users.map((u) => wechat.giveCard(u)));
        const captured = await Promise.all(given.map((g) => balancer.take(g.notification_id)));
        let answered = 0;
        const statuses = await Promise.all(
          captured.map((n) =>
            deliver(`${third.url}/api/member-card/notify`, n, () => {
              answered += 1;
              if (answered === captured.length) third.child.kill('SIGKILL');
            }),
          ),
        );
        assert.deepEqual(statuses, [204, 204, 204, 204]);
        assert.equal((await third.exited).signal, 'SIGKILL');

        const fourth = await start();
        for (const [i, user] of users.entries()) {
          const token = await wechat.login(`${fourth.url}/api/login`, user);
          const mine = await call('GET', `${fourth.url}/api/member-card`, { token });
          assert.equal(mine.status, 200, mine.text);
          assert.equal(mine.body.card.code, given[i]?.code);
        }
        // Redelivered after the crash, each is a duplicate: applied once, before the kill.
        for (const n of captured) assert.equal(await deliver(`${fourth.url}/api/member-card/notify`, n), 204);
        await waitFor('the outcome to be logged', 5000, async () =>
          fourth.count('duplicate notification ignored') === 4 ? true : undefined,
        );
        assert.equal(fourth.count('notification applied'), 0);
      });
    },
  );
}
