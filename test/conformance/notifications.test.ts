// Our POST /notify against the member-card notifications as documented, sent by the sandbox:
// ACCEPT_CARD as RECOVER or by phone number, without outer_str, without code; associated_data
// membercard, empty or absent; a signature probe refused with nothing bound, then the clean
// redelivery binds. The sandbox signs; our verifier (the plugin's Rsa/Aes helpers) checks.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { startHarness, type Harness } from '../support/harness.js';

interface Row {
  id: string;
  attempts: number;
  last_status: number | null;
  delivered: boolean;
}

describe('conformance: member-card notifications as WeChat Pay sends them', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.sandbox.control('PUT', 'behaviour', {});
    await h.sandbox.control('DELETE', 'faults');
  });
  after(() => h.close());

  const row = async (id: string): Promise<Row | undefined> =>
    ((await h.sandbox.control('GET', 'notifications')) as { data: Row[] }).data.find((n) => n.id === id);

  for (const eventType of ['NEW_ACTIVATE', 'RECOVER', 'MEMBER_CARD_ACCEPT_BY_PHONE_NUMBER']) {
    it(`ACCEPT_CARD ${eventType} without outer_str binds by unionid; the user reads the card`, async () => {
      const user = await h.sandbox.newUser();
      const { code } = await h.giveCard(user, { event_type: eventType });
      const binding = await h.store.getBinding(h.creds.cardId, code);
      assert.deepEqual([binding?.status, binding?.unionid], ['active', user.unionid]);
      const reply = await h.api('GET', '/member-card', { token: await h.login(user) });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.card.code, code);
    });
  }

  it('ACCEPT_CARD without code is acknowledged (2xx, no retry) and binds nothing', async () => {
    const user = await h.sandbox.newUser();
    const given = (await h.sandbox.control('POST', `cards/${h.creds.cardId}/codes`, {
      unionid: user.unionid,
      omit_code: true,
    })) as { code: string; notification_id: string };
    const delivered = await h.sandbox.waitDelivered(given.notification_id);
    assert.equal(delivered.attempts, 1);
    assert.equal(await h.store.getBinding(h.creds.cardId, given.code), undefined);
    assert.equal((await h.store.getNotification(given.notification_id))?.eventType, 'MEMBERCARD.ACCEPT_CARD');
  });

  for (const associatedData of ['membercard', 'empty', 'absent'] as const) {
    it(`associated_data ${associatedData}: decrypted and bound`, async () => {
      await h.sandbox.control('PUT', 'behaviour', { associatedData });
      const user = await h.sandbox.newUser();
      const { code } = await h.giveCard(user);
      assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'active');
    });
  }

  it('a signature probe is refused (401) and binds nothing; the clean redelivery binds', async () => {
    await h.sandbox.control('PUT', 'faults', { notification: true, signature_probe: true, times: 1 });
    const user = await h.sandbox.newUser();
    const given = (await h.sandbox.control('POST', `cards/${h.creds.cardId}/codes`, { unionid: user.unionid })) as {
      code: string;
      notification_id: string;
    };
    const deadline = Date.now() + 5000;
    let first: Row | undefined;
    while (!(first = await row(given.notification_id))?.attempts) {
      if (Date.now() > deadline) throw new Error('no delivery');
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(first.last_status, 401, 'the probe was refused');
    const rejected = h.logs.find((l) => l.message === 'notification rejected');
    assert.equal(rejected?.fields?.code, 'NOTIFICATION_INVALID');
    const done = await h.sandbox.waitDelivered(given.notification_id);
    assert.equal(done.attempts, 2, 'delivered on the retry');
    assert.equal((await h.store.getBinding(h.creds.cardId, given.code))?.status, 'active');
  });
});
