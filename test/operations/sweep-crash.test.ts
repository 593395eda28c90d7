// Issue 18: a `serve` killed (SIGKILL) after it recorded a merchant change and before WeChat Pay
// handled it leaves a pending journal entry. After a restart on the same store, with no further
// request, the background sweep settles it: the card changes exactly once, the journal says applied.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { outRequestNo } from '../../src/operations/index.js';
import { createStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { call } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import type { TestSandbox } from '../support/sandbox.js';
import { Deployment } from '../support/serve.js';
import { unavailable } from '../support/services.js';

const ADMIN = 'retention-sweep-4f9c1b7e2d8a6053';

for (const engine of ['sqlite', 'postgres'] as const) {
  const skip = await unavailable(engine, `operation sweep after SIGKILL on ${engine}`);

  describe(`merchant change on ${engine}: serve killed between recording and sending`, { skip: skip ?? false }, () => {
    let deployment: Deployment;
    let wechat: TestSandbox;
    let store: Store;
    before(async () => {
      deployment = await Deployment.start(engine);
      ({ wechat } = deployment);
      store = createStore(deployment.store.url);
    });
    after(async () => {
      await store?.close();
      await deployment?.close();
    });

    it('after a restart the sweep applies it once, without any further request', async () => {
      // The first instance never sweeps: what settles the change must be the restarted one.
      const first = await deployment.serve(undefined, { MEMBERCARD_ADMIN_TOKEN: ADMIN, MEMBERCARD_SWEEP_MS: '0' });
      deployment.balancer.route = first.url;
      const { code } = await wechat.personWithCard({ balance: 700 });
      const { cardId } = wechat.credentials;
      const cardPath = `/v3/marketing/membercard-open/cards/${cardId}/codes/${code}`;
      // Every PATCH of this card is cut before WeChat Pay handles it; the process dies on the first.
      await wechat.fault({ reset: true, path: cardPath, method: 'PATCH' });
      const requestId = 'till-7-0001';
      const change = call('POST', `${first.url}/api/member-card/admin/balance`, {
        headers: { 'X-Admin-Token': ADMIN },
        body: { code, request_id: requestId, amount: 300, remark: '补偿' },
      }).catch(() => undefined);
      await waitFor('the PATCH reached WeChat Pay and was cut', 10_000, async () =>
        (await wechat.requests(code)).some((r) => r.method === 'PATCH' && r.status === 0),
      );
      await first.kill();
      await change;
      assert.equal((await store.getOperation(cardId, requestId))?.state, 'pending', 'recorded, outcome unknown');
      assert.equal((await wechat.card(code)).balance, 700, 'WeChat Pay never handled it');
      await wechat.clearFaults();

      // The restart: no request names the change; the sweep finds it pending and sends it again.
      await deployment.serve(undefined, {
        MEMBERCARD_ADMIN_TOKEN: ADMIN,
        MEMBERCARD_SWEEP_MS: '200',
        MEMBERCARD_SWEEP_AFTER_MS: '300',
      });
      await waitFor(
        'applied by the sweep',
        20_000,
        async () => (await store.getOperation(cardId, requestId))?.state === 'applied',
      );
      const card = await wechat.card(code);
      assert.equal(card.balance, 1000, 'the card changed by the amount');
      assert.equal(
        card.applied.card.filter((no: string) => no === outRequestNo(cardId, requestId)).length,
        1,
        'WeChat Pay applied that out_request_no once',
      );
      const trail = await store.listAudit(cardId, code, 10);
      assert.deepEqual(
        trail.map((e) => [e.requestId, e.before, e.after]),
        [[requestId, 700, 1000]],
        'one audit line',
      );
    });
  });
}
