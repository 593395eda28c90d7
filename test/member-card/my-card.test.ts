import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';

describe('my card over real HTTP, through the sandbox', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  test('a user whose card arrived by notification (unionid) logs in and reads it', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 888, bonus_value: 7, level: '银卡会员' });
    const token = await h.login(user);
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.card.code, code);
    assert.equal(reply.body.card.card_id, h.creds.cardId);
    assert.equal(reply.body.card.balance, 888);
    assert.equal(reply.body.card.bonus_value, 7);
    assert.equal(reply.body.card.level, '银卡会员');
    assert.equal(reply.body.card.user_card_status, 'EFFECTIVE');
    assert.equal('openid' in reply.body.card, false, 'the 服务号 openid is never sent to clients');
    assert.deepEqual(reply.body.editable, { background_picture_url: BACKGROUNDS });
    assert.equal(reply.headers.get('cache-control'), 'private, no-store');
  });

  test('a user with no unionid gets their card through our outer_str', async () => {
    const user = await h.sandbox.newUser({ share_unionid: false });
    const token = await h.login(user);
    const none = await h.api('GET', '/member-card', { token });
    assert.equal(none.status, 404);
    assert.equal(none.body.code, 'CARD_NOT_FOUND');

    const open = await h.api('GET', '/member-card/open', { token });
    assert.equal(open.status, 200);
    assert.equal(open.body.appId, 'wxeb490c6f9b154ef9');
    assert.equal(open.body.path, 'pages/card_open/card_open');
    assert.equal(open.body.extraData.card_id, h.creds.cardId);
    assert.equal(open.body.extraData.create_card_appid, h.creds.appid);
    assert.match(open.body.extraData.outer_str, /^[A-Za-z0-9]{32}$/);

    // WeChat's card-opening page echoes the outer_str in ACCEPT_CARD (no unionid for this person).
    const { code } = await h.giveCard(user, { outer_str: open.body.extraData.outer_str });
    const mine = await h.api('GET', '/member-card', { token });
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.body.card.code, code);
  });

  test('GET /open hands a user their one live outer_str, usable once; after that a new one', async () => {
    const user = await h.sandbox.newUser({ share_unionid: false });
    const other = await h.sandbox.newUser({ share_unionid: false });
    const token = await h.login(user);
    const otherToken = await h.login(other);
    const a = await h.api('GET', '/member-card/open', { token });
    const b = await h.api('GET', '/member-card/open', { token });
    assert.equal(a.body.extraData.outer_str, b.body.extraData.outer_str, 'one per user and card (issue 12)');
    assert.ok(Date.parse(b.body.expiresAt) >= Date.parse(a.body.expiresAt), 'its life renewed');
    // The first use binds the caller; a replayed outer_str on someone else's card binds nothing.
    await h.giveCard(user, { outer_str: a.body.extraData.outer_str });
    await h.giveCard(other, { outer_str: a.body.extraData.outer_str });
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    assert.equal((await h.api('GET', '/member-card', { token: otherToken })).status, 404);
    const c = await h.api('GET', '/member-card/open', { token });
    assert.notEqual(c.body.extraData.outer_str, a.body.extraData.outer_str, 'consumed: a new one');
  });

  test('no identity: 401 UNAUTHENTICATED, and nothing is sent upstream', async () => {
    const before = await h.sandbox.upstreamCount();
    for (const [method, path] of [
      ['GET', '/member-card'],
      ['PATCH', '/member-card'],
      ['GET', '/member-card/open'],
    ] as const) {
      const reply = await h.api(method, path, {
        body: method === 'PATCH' ? { background_picture_url: BACKGROUNDS[0] } : undefined,
      });
      assert.equal(reply.status, 401, `${method} ${path}`);
      assert.deepEqual(Object.keys(reply.body).sort(), ['code', 'message']);
      assert.equal(reply.body.code, 'UNAUTHENTICATED');
    }
    const bogus = await h.api('GET', '/member-card', { token: 'x'.repeat(43) });
    assert.equal(bogus.status, 401);
    assert.equal(await h.sandbox.upstreamCount(), before);
  });

  test('self-service edit changes the card upstream and answers the changed card', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    const token = await h.login(user);
    const reply = await h.api('PATCH', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[1] } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.card.background_picture_url, BACKGROUNDS[1]);
    const upstream = await h.sandbox.card(code);
    assert.equal(upstream.background_picture_url, BACKGROUNDS[1]);
    const again = await h.api('GET', '/member-card', { token });
    assert.equal(again.body.card.background_picture_url, BACKGROUNDS[1]);
    // PUT is the same edit, for wx.request, which has no PATCH.
    const put = await h.api('PUT', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
    assert.equal(put.status, 200, put.text);
    assert.equal((await h.sandbox.card(code)).background_picture_url, BACKGROUNDS[0]);
    assert.equal((await h.api('PUT', '/member-card', { token, body: { level: '钻石会员' } })).status, 400);
  });

  test('forbidden fields, foreign codes and bad bodies are 400/413/415 with nothing sent upstream', async () => {
    const user = await h.sandbox.newUser();
    await h.giveCard(user, { balance: 100 });
    const token = await h.login(user);
    const before = await h.sandbox.upstreamCount();
    const cases: Array<[unknown, string]> = [
      [{ level: '钻石会员' }, 'level'],
      [{ balance: 999999 }, 'balance'],
      [{ bonus_value: 5 }, 'bonus_value'],
      [{ balance_information: { before_balance: 100, balance: 200, add_balance: 100 } }, 'balance_information'],
      [{ membership_number: '123' }, 'membership_number'],
      [{ code: '123456789012' }, 'code'],
      [{ card_id: h.creds.cardId, background_picture_url: BACKGROUNDS[0] }, 'card_id'],
      [{ background_picture_url: 'https://evil.example/x.png' }, 'background_picture_url'],
      [{ background_picture_url: 7 }, 'background_picture_url'],
      [{ nickname: 'x' }, 'nickname'],
    ];
    for (const [body, field] of cases) {
      const reply = await h.api('PATCH', '/member-card', { token, body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(reply.body.code, 'INVALID_REQUEST');
      assert.ok(
        reply.body.details.some((d: { field: string }) => d.field === field),
        `names ${field}: ${reply.text}`,
      );
    }
    const empty = await h.api('PATCH', '/member-card', { token, body: {} });
    assert.equal(empty.status, 400);
    const array = await h.api('PATCH', '/member-card', { token, body: [BACKGROUNDS[0]] });
    assert.equal(array.status, 400);
    const broken = await h.api('PATCH', '/member-card', {
      token,
      raw: '{"background_picture_url":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.code, 'INVALID_REQUEST');
    const form = await h.api('PATCH', '/member-card', {
      token,
      raw: 'level=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(form.status, 415);
    assert.equal(form.body.code, 'UNSUPPORTED_MEDIA_TYPE');
    const huge = await h.api('PATCH', '/member-card', {
      token,
      body: { background_picture_url: BACKGROUNDS[0], pad: 'x'.repeat(20_000) },
    });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.code, 'PAYLOAD_TOO_LARGE');
    for (const query of ['code=123456789012', 'card_id=x', 'openid=o1', 'CODE=1']) {
      const get = await h.api('GET', `/member-card?${query}`, { token });
      assert.equal(get.status, 400, query);
      assert.equal(get.body.code, 'INVALID_REQUEST');
    }
    assert.equal(await h.sandbox.upstreamCount(), before, 'no request reached WeChat Pay');
  });

  test('a card that is not EFFECTIVE reads with its status and cannot be edited (409)', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    const token = await h.login(user);
    await h.sandbox.setCard(code, { user_card_status: 'EXPIRE' });
    const read = await h.api('GET', '/member-card', { token });
    assert.equal(read.status, 200);
    assert.equal(read.body.card.user_card_status, 'EXPIRE');
    assert.deepEqual(read.body.editable, {});
    const edit = await h.api('PATCH', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
    assert.equal(edit.status, 409);
    assert.equal(edit.body.code, 'CARD_NOT_EDITABLE');
    const upstream = await h.sandbox.card(code);
    assert.notEqual(upstream.background_picture_url, BACKGROUNDS[0]);
  });

  test('unknown methods answer 405 in JSON with Allow', async () => {
    const reply = await h.api('DELETE', '/member-card');
    assert.equal(reply.status, 405);
    assert.equal(reply.body.code, 'METHOD_NOT_ALLOWED');
    assert.match(reply.headers.get('allow') ?? '', /GET/);
  });

  test('a deleted card retires the binding (USER_DELETE_MEMBERCARD)', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    const { notification_id } = await h.sandbox.cardEvent(code, {
      event_type: 'USER_DELETE_MEMBERCARD',
    });
    await h.sandbox.waitDelivered(notification_id);
    const gone = await h.api('GET', '/member-card', { token });
    assert.equal(gone.status, 404);
    assert.equal(gone.body.code, 'CARD_NOT_FOUND');
  });

  test('logout ends the session', async () => {
    const user = await h.sandbox.newUser();
    await h.giveCard(user);
    const token = await h.login(user);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    assert.equal((await h.api('POST', '/logout', { token })).status, 204);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 401);
  });
});

describe('a platform in certificate mode (a platform certificate serial instead of a key id)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ platformMode: 'certificate' });
  });
  after(() => h.close());

  test('responses and notifications verify against the certificate', async () => {
    assert.equal(h.creds.publicKeyId, undefined);
    assert.ok(h.creds.platformCertificateSerial);
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 42 });
    const token = await h.login(user);
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.body.card.code, code);
    assert.equal(reply.body.card.balance, 42);
  });
});
