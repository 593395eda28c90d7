// A `serve` process killed with SIGKILL the instant it has acknowledged a payment notification
// (WeChat Pay got its 204 and will not send it again), while the credit is still on its way:
// after a restart on the same store the reconciler credits the card, once; the notification
// delivered again is a duplicate and changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { outRequestNo } from '../../src/operations/index.js';
import { call } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import type { TestSandbox } from '../support/sandbox.js';
import { deliver, Deployment, type NotifyBalancer, type ServeProcess } from '../support/serve.js';
import { unavailable } from '../support/services.js';
import { pay } from '../support/topup.js';

for (const engine of ['sqlite', 'postgres'] as const) {
  const skip = await unavailable(engine, `top-up SIGKILL on ${engine}`);

  describe(
    `top-up on ${engine}: serve killed with SIGKILL right after acknowledging the payment`,
    { skip: skip ?? false },
    () => {
      let deployment: Deployment;
      let wechat: TestSandbox;
      let balancer: NotifyBalancer;
      const start = (): Promise<ServeProcess> =>
        deployment.serve(undefined, {
          MEMBERCARD_TOPUP_AMOUNTS: '1000,10000',
          MEMBERCARD_TOPUP_BONUSES: '10000:1000',
          MEMBERCARD_TOPUP_NOTIFY_URL: balancer.payUrl,
          MEMBERCARD_TOPUP_RECONCILE_MS: '200',
          MEMBERCARD_TOPUP_RETRY_MS: '300',
        });

      before(async () => {
        deployment = await Deployment.start(engine);
        ({ wechat, balancer } = deployment);
      });
      after(() => deployment?.close());

      it('WeChat Pay sees 204, the process dies, the credit in flight; after a restart: credited once', async () => {
        const first = await start();
        const user = await wechat.newUser();
        balancer.route = first.url;
        const given = await wechat.giveCard(user, { balance: 700 });
        await wechat.waitDelivered(given.notification_id);
        const token = await wechat.login(`${first.url}/api/login`, user);
        const placed = await call('POST', `${first.url}/api/member-card/topup`, { token, body: { amount: 10000 } });
        assert.equal(placed.status, 200, placed.text);
        const id = placed.body.order.id as string;

        // The credit reads the card first: hold that answer, so the process dies before it can credit.
        const cardPath = `/v3/marketing/membercard-open/cards/${wechat.credentials.cardId}/codes/${given.code}`;
        await wechat.fault({ latency_ms: 3000, path: cardPath, method: 'GET', times: 1 });
        let answered: number | undefined;
        balancer.onAnswered = (status) => {
          answered = status;
          first.child.kill('SIGKILL');
        };
        const paid = await pay(wechat, user, placed.body.payment);
        assert.equal(paid.status, 200, paid.text);
        const exit = await Promise.race([
          first.exited,
          new Promise<never>((_, fail) => setTimeout(() => fail(new Error('not killed within 10 s')), 10_000)),
        ]);
        balancer.onAnswered = undefined;
        assert.equal(answered, 204);
        assert.equal(exit.signal, 'SIGKILL');
        const notification = await wechat.waitDelivered(paid.body.notification_id as string);
        assert.equal(notification.attempts, 1, 'WeChat Pay got its 2xx and will not resend');
        assert.equal((await wechat.card(given.code)).balance, 700, 'not credited before the kill');
        await wechat.clearFaults();

        // Restart: the order is paid in the store; the reconciler credits it.
        const second = await start();
        balancer.route = second.url;
        await waitFor(
          'credited after the restart',
          15_000,
          async () => (await wechat.card(given.code)).balance === 11700,
        );
        const view = await call('GET', `${second.url}/api/member-card/topup/${id}`, { token });
        assert.deepEqual([view.body.order.state, view.body.order.balance], ['credited', 11700]);

        // The notification again (as WeChat Pay may send it): a duplicate, nothing more is credited.
        const original = await balancer.take(paid.body.notification_id as string);
        assert.equal(original.path, '/api/member-card/pay-notify');
        assert.equal(await deliver(`${second.url}${original.path}`, original), 204);
        await waitFor('the duplicate logged', 5000, () => second.count('duplicate payment notification ignored') === 1);
        const card = await wechat.card(given.code);
        assert.equal(card.balance, 11700);
        assert.equal(card.applied.card.filter((no) => no === outRequestNo(wechat.credentials.cardId, id)).length, 1);
      });
    },
  );
}
