// Card codes are string(32) with no documented character set: a code with half-width punctuation,
// spaces or Chinese binds from its notification, reads, edits and changes like any other, its path
// percent-encoded and signed as sent. Only what cannot be a code is refused, before anything is sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildNotification } from '../support/notifications.js';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';

const CODES = ['A/B?c#d%', 'x y', '50%', '会员1', 'a.b', '%2E%2E', '..a', `${'Z'.repeat(31)}/`];

describe('conformance: card codes as the documentation allows them', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  for (const code of CODES) {
    it(`code ${JSON.stringify(code)}: bound by its notification, read, edited and changed`, async () => {
      const user = await h.sandbox.newUser();
      await h.giveCard(user, { code, balance: 100 });
      const binding = await h.store.getBinding(h.creds.cardId, code);
      assert.equal(binding?.status, 'active', 'the notification bound it');
      const token = await h.login(user);
      const read = await h.api('GET', '/member-card', { token });
      assert.equal(read.status, 200, read.text);
      assert.equal(read.body.card.code, code);
      const edit = await h.api('PUT', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[1] } });
      assert.equal(edit.status, 200, edit.text);
      const op = await h.cards.operations.adjustBalance({
        code,
        amount: -30,
        requestId: `code-${CODES.indexOf(code)}`,
      });
      assert.deepEqual([op.state, op.before, op.after], ['applied', 100, 70]);
      const stored = await h.sandbox.control('GET', `cards/${h.creds.cardId}/codes/${encodeURIComponent(code)}`);
      assert.equal(stored.balance, 70);
      assert.equal(stored.background_picture_url, BACKGROUNDS[1]);
      const { data } = (await h.sandbox.control('GET', 'requests')) as {
        data: Array<{ path: string; signature_valid: boolean; status: number }>;
      };
      const ours = data.filter((r) => r.path.includes(`/codes/${encodeURIComponent(code)}`));
      assert.ok(ours.length >= 4, 'GET, PATCH (edit), GET, PATCH (balance)');
      assert.ok(
        ours.every((r) => r.signature_valid && r.status < 300),
        'every one signed as sent and answered',
      );
    });
  }

  it('refuses only what cannot be a code, locally: nothing is sent, nothing is stored', async () => {
    const before = await h.sandbox.upstreamCount();
    for (const code of ['', 'Z'.repeat(33), 'a\nb', 'tab\there', '.', '..', 'x\u007f']) {
      await assert.rejects(
        h.cards.operations.adjustBalance({ code, amount: 1, requestId: 'never' }),
        (err: { code?: string; details?: { field: string }[] }) => {
          assert.equal(err.code, 'INVALID_REQUEST');
          assert.equal(err.details?.[0]?.field, 'code');
          return true;
        },
      );
    }
    assert.equal(await h.sandbox.upstreamCount(), before);
    assert.equal(await h.cards.operations.get('never'), undefined);
  });

  it('a notification naming a code that cannot be one is acknowledged and binds nothing', async () => {
    for (const code of ['Z'.repeat(33), 'a\nb', '..']) {
      const { headers, body } = buildNotification({
        eventType: 'MEMBERCARD.ACCEPT_CARD',
        payload: { event_type: 'NEW_ACTIVATE', card_id: h.creds.cardId, code, openid: 'o-x', unionid: 'u-x' },
        apiv3Key: h.creds.apiv3Key,
        signingKey: h.sandbox.platformPrivateKey(),
        serial: h.creds.publicKeyId as string,
      });
      const reply = await h.api('POST', '/member-card/notify', { raw: body, headers });
      assert.equal(reply.status, 204);
      assert.equal(await h.store.getBinding(h.creds.cardId, code), undefined);
    }
  });
});
