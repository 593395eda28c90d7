import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startHarness, type Harness } from '../support/harness.js';
import { buildNotification } from '../support/notifications.js';

describe('POST /notify: verified, decrypted, de-duplicated', () => {
  let h: Harness;
  let platformKey: string;
  before(async () => {
    h = await startHarness();
    platformKey = h.sandbox.platformPrivateKey();
  });
  after(() => h.close());

  const accept = (payload: Record<string, unknown>, extra: Partial<Parameters<typeof buildNotification>[0]> = {}) =>
    buildNotification({
      eventType: 'MEMBERCARD.ACCEPT_CARD',
      payload: {
        event_type: 'NEW_ACTIVATE',
        card_id: h.creds.cardId,
        event_time: new Date().toISOString(),
        ...payload,
      },
      apiv3Key: h.creds.apiv3Key,
      signingKey: platformKey,
      serial: h.creds.publicKeyId as string,
      ...extra,
    });

  const send = (n: { headers: Record<string, string>; body: string }) =>
    h.api('POST', '/member-card/notify', { raw: n.body, headers: n.headers });

  test('a genuine notification binds by unionid; its redelivery changes nothing', async () => {
    const user = await h.sandbox.newUser();
    const n = accept({ code: '900000000001', openid: user.oa_openid, unionid: user.unionid });
    const first = await send(n);
    assert.equal(first.status, 204, first.text);
    const binding = await h.store.getBinding(h.creds.cardId, '900000000001');
    assert.equal(binding?.unionid, user.unionid);
    assert.equal(binding?.oaOpenid, user.oa_openid);
    assert.equal(binding?.status, 'active');

    // The same id again, now claiming another code: acknowledged, and nothing changes.
    const replay = accept({ code: '900000000002', openid: user.oa_openid, unionid: user.unionid }, { id: n.id });
    const second = await send(replay);
    assert.equal(second.status, 204);
    assert.equal(await h.store.getBinding(h.creds.cardId, '900000000002'), undefined);
    assert.equal((await h.store.findBindingByUnionid(h.creds.cardId, user.unionid))?.code, '900000000001');
  });

  test('twenty concurrent deliveries of one notification bind exactly once', async () => {
    const user = await h.sandbox.newUser({ share_unionid: false });
    const token = await h.login(user);
    const open = await h.api('GET', '/member-card/open', { token });
    const outerStr = open.body.extraData.outer_str as string;
    const id = randomUUID();
    // Twenty different envelopes with one id, each claiming its own code; exactly one may win.
    const deliveries = Array.from({ length: 20 }, (_, i) =>
      accept({ code: `91000000${String(i).padStart(4, '0')}`, openid: user.oa_openid, outer_str: outerStr }, { id }),
    );
    const replies = await Promise.all(deliveries.map(send));
    assert.ok(
      replies.every((r) => r.status === 204),
      replies.map((r) => r.status).join(','),
    );
    let bound = 0;
    for (let i = 0; i < 20; i++)
      if (await h.store.getBinding(h.creds.cardId, `91000000${String(i).padStart(4, '0')}`)) bound++;
    assert.equal(bound, 1);
    const binding = await h.store.findBindingByUser(h.creds.cardId, user.mp_openid);
    assert.ok(binding, 'the session user behind the outer_str is bound');
    const record = await h.store.getNotification(id);
    assert.equal(record?.eventType, 'MEMBERCARD.ACCEPT_CARD');
  });

  test('forged, stale, tampered, untrusted and undecryptable notifications change nothing (4xx JSON)', async () => {
    const user = await h.sandbox.newUser();
    const { privateKey: otherKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const payload = { code: '920000000001', openid: user.oa_openid, unionid: user.unionid };

    const forged = accept(payload, { signingKey: otherKey });
    const stale = accept(payload, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    const future = accept(payload, { timestamp: Math.floor(Date.now() / 1000) + 400 });
    const untrusted = accept(payload, { serial: 'PUB_KEY_ID_0000000000000000000000000000000000' });
    const wrongAesKey = accept(payload, { apiv3Key: 'A'.repeat(32) });
    const genuine = accept(payload);
    const tampered = { headers: genuine.headers, body: genuine.body.replace('"summary":"test"', '"summary":"tes7"') };
    const noHeaders = { headers: { 'content-type': 'application/json' }, body: genuine.body };
    const notJson = { headers: accept(payload).headers, body: 'not json' };

    const expectations: Array<[string, { headers: Record<string, string>; body: string }, number, string]> = [
      ['forged', forged, 401, 'NOTIFICATION_INVALID'],
      ['stale', stale, 401, 'NOTIFICATION_INVALID'],
      ['future', future, 401, 'NOTIFICATION_INVALID'],
      ['untrusted serial', untrusted, 401, 'NOTIFICATION_INVALID'],
      ['tampered', tampered, 401, 'NOTIFICATION_INVALID'],
      ['no headers', noHeaders, 401, 'NOTIFICATION_INVALID'],
      ['undecryptable', wrongAesKey, 400, 'NOTIFICATION_UNREADABLE'],
    ];
    for (const [name, n, status, code] of expectations) {
      const reply = await send(n);
      assert.equal(reply.status, status, `${name}: ${reply.text}`);
      assert.equal(reply.body.code, code, name);
      assert.equal(await h.store.getNotification(JSON.parse(n.body).id), undefined, `${name} is not recorded`);
    }
    const garbage = await send(notJson);
    assert.equal(garbage.status, 401, 'the signature covers the body, so a replaced body fails verification first');
    assert.equal(await h.store.getBinding(h.creds.cardId, '920000000001'), undefined);
    assert.ok(h.logs.some((l) => l.message === 'notification rejected'));
    assert.ok(!JSON.stringify(h.logs).includes(h.creds.apiv3Key), 'the APIv3 key never reaches a log');

    // The genuine notification is still accepted after all those rejections.
    assert.equal((await send(genuine)).status, 204);
    assert.equal((await h.store.getBinding(h.creds.cardId, '920000000001'))?.unionid, user.unionid);
  });

  test('unknown event types and other cards are acknowledged and recorded, binding nothing', async () => {
    const user = await h.sandbox.newUser();
    const unknown = buildNotification({
      eventType: 'MEMBERCARD.SOMETHING_NEW',
      payload: { card_id: h.creds.cardId, code: '930000000001', openid: user.oa_openid, unionid: user.unionid },
      apiv3Key: h.creds.apiv3Key,
      signingKey: platformKey,
      serial: h.creds.publicKeyId as string,
    });
    assert.equal((await send(unknown)).status, 204);
    assert.equal((await h.store.getNotification(unknown.id))?.eventType, 'MEMBERCARD.SOMETHING_NEW');
    assert.equal(await h.store.getBinding(h.creds.cardId, '930000000001'), undefined);

    const otherCard = accept({
      card_id: 'pOtherCard000000000000000000',
      code: '930000000002',
      openid: user.oa_openid,
      unionid: user.unionid,
    });
    assert.equal((await send(otherCard)).status, 204);
    assert.equal(await h.store.getBinding('pOtherCard000000000000000000', '930000000002'), undefined);
    assert.ok(await h.store.getNotification(otherCard.id));
  });

  test("the sandbox's own deliveries verify and bind (end to end, with retries off)", async () => {
    const user = await h.sandbox.newUser();
    const { code, notification_id } = await h.giveCard(user);
    const status = await h.sandbox.waitDelivered(notification_id);
    assert.equal(status.attempts, 1, 'accepted on the first attempt');
    assert.equal((await h.store.getBinding(h.creds.cardId, code))?.unionid, user.unionid);
  });
});
