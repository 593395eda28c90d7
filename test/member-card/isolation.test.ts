import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';
import { buildNotification } from '../support/notifications.js';
import type { SandboxUser } from '../support/sandbox.js';

describe("a user can never read or change another user's card", () => {
  let h: Harness;
  let alice: SandboxUser;
  let bob: SandboxUser;
  let aliceCode: string;
  let bobCode: string;
  let bobToken: string;
  before(async () => {
    h = await startHarness();
    alice = await h.sandbox.newUser();
    bob = await h.sandbox.newUser();
    ({ code: aliceCode } = await h.giveCard(alice, { balance: 100000 }));
    ({ code: bobCode } = await h.giveCard(bob, { balance: 1 }));
    bobToken = await h.login(bob);
  });
  after(() => h.close());

  const aliceCard = () => h.sandbox.card(aliceCode);

  test('whatever Bob puts in the query, body or headers, he gets his own card or a 400', async () => {
    const attempts: Array<{ method: string; path: string; body?: unknown; headers?: Record<string, string> }> = [
      { method: 'GET', path: `/member-card?code=${aliceCode}` },
      { method: 'GET', path: `/member-card?card_id=${h.creds.cardId}&code=${aliceCode}` },
      { method: 'GET', path: `/member-card?openid=${alice.mp_openid}` },
      { method: 'GET', path: `/member-card?unionid=${alice.unionid}` },
      { method: 'GET', path: `/member-card/${aliceCode}` },
      {
        method: 'GET',
        path: '/member-card',
        headers: { 'x-openid': alice.mp_openid, 'x-unionid': alice.unionid, 'x-code': aliceCode },
      },
      { method: 'PATCH', path: '/member-card', body: { code: aliceCode, background_picture_url: BACKGROUNDS[0] } },
      { method: 'PATCH', path: `/member-card?code=${aliceCode}`, body: { background_picture_url: BACKGROUNDS[0] } },
      {
        method: 'PATCH',
        path: '/member-card',
        body: { openid: alice.oa_openid, background_picture_url: BACKGROUNDS[0] },
      },
      {
        method: 'PATCH',
        path: '/member-card',
        body: { unionid: alice.unionid, background_picture_url: BACKGROUNDS[0] },
      },
    ];
    for (const a of attempts) {
      const reply = await h.api(a.method, a.path, { token: bobToken, body: a.body, headers: a.headers });
      assert.equal(reply.text.includes(aliceCode), false, `${a.method} ${a.path} must not reveal Alice's card`);
      assert.ok([200, 400, 404].includes(reply.status), `${a.method} ${a.path}: ${reply.status}`);
      if (reply.status === 200) assert.equal(reply.body.card.code, bobCode);
    }
    const card = await aliceCard();
    assert.equal(card.background_picture_url.includes('bg-'), false, "Alice's card is unchanged");
  });

  test("a session naming Alice's openid without her login is still Bob's", async () => {
    const reply = await h.api('GET', '/member-card', {
      token: bobToken,
      headers: { cookie: `openid=${alice.mp_openid}` },
    });
    assert.equal(reply.body.card.code, bobCode);
  });

  test("a binding pointing Bob at Alice's code is caught by the card's openid: 404 and flagged", async () => {
    const mallory = await h.sandbox.newUser();
    // A genuinely signed notification claims Alice's code for Mallory (e.g. a merchant's data mistake).
    const n = buildNotification({
      eventType: 'MEMBERCARD.ACCEPT_CARD',
      payload: {
        event_type: 'NEW_ACTIVATE',
        card_id: h.creds.cardId,
        code: aliceCode,
        openid: mallory.oa_openid,
        unionid: mallory.unionid,
      },
      apiv3Key: h.creds.apiv3Key,
      signingKey: h.sandbox.platformPrivateKey(),
      serial: h.creds.publicKeyId as string,
    });
    assert.equal((await h.api('POST', '/member-card/notify', { raw: n.body, headers: n.headers })).status, 204);
    const malloryToken = await h.login(mallory);
    const read = await h.api('GET', '/member-card', { token: malloryToken });
    assert.equal(read.status, 404);
    assert.equal(read.text.includes(aliceCode), false);
    const edit = await h.api('PATCH', '/member-card', {
      token: malloryToken,
      body: { background_picture_url: BACKGROUNDS[1] },
    });
    assert.equal(edit.status, 404);
    assert.equal((await h.store.getBinding(h.creds.cardId, aliceCode))?.status, 'flagged');
    assert.notEqual((await aliceCard()).background_picture_url, BACKGROUNDS[1]);
  });
});
