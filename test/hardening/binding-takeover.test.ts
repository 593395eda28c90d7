// Finding 1 of issue 12 (the worst): "Binding takeover through outer_str." A user fetched GET /open;
// another person's card was accepted or activated carrying that outer_str, and the first user got
// the card. Now an outer_str binds only on ACCEPT_CARD of a code no other user holds; ACTIVATE_CARD
// never consumes one; an outer_str whose owner has another unionid than the notification's is
// ignored and logged; a bound code moves only after USER_DELETE_MEMBERCARD and a new acceptance.
// On every engine, over real HTTP, with the sandbox sending (or the test forging, with the
// platform's own key) the notifications.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startHarness, type Harness } from '../support/harness.js';
import { buildNotification } from '../support/notifications.js';
import { freshStore, unavailable, type Engine, type TestStore } from '../support/services.js';

for (const engine of ['memory', 'sqlite', 'postgres', 'redis'] as const satisfies readonly Engine[]) {
  describe(`binding takeover through outer_str is refused (${engine})`, async () => {
    const skip = await unavailable(engine, 'binding takeover');
    let h: Harness;
    let place: TestStore;
    before(async () => {
      if (skip) return;
      place = freshStore(engine, 'takeover');
      h = await startHarness({ store: place.url });
    });
    after(async () => {
      if (skip) return;
      await h.close();
      await place.cleanup();
    });

    /** The outer_str GET /open hands this session user. */
    const outerStrOf = async (token: string): Promise<string> => {
      const open = await h.api('GET', '/member-card/open', { token });
      assert.equal(open.status, 200, open.text);
      return open.body.extraData.outer_str as string;
    };
    const myCard = (token: string) => h.api('GET', '/member-card', { token });
    /** An ACCEPT_CARD for a code that exists already, as WeChat Pay signs it (a re-acceptance). */
    const acceptAgain = async (payload: Record<string, unknown>): Promise<number> => {
      const n = buildNotification({
        eventType: 'MEMBERCARD.ACCEPT_CARD',
        payload: {
          event_type: 'NEW_ACTIVATE',
          card_id: h.creds.cardId,
          event_time: new Date().toISOString(),
          ...payload,
        },
        apiv3Key: h.creds.apiv3Key,
        signingKey: h.sandbox.platformPrivateKey(),
        serial: h.creds.publicKeyId as string,
      });
      return (await h.api('POST', '/member-card/notify', { raw: n.body, headers: n.headers })).status;
    };
    const ignored = (reason: string) =>
      h.logs.filter((l) => l.level === 'warn' && l.message === 'outer_str ignored' && l.fields?.reason === reason);

    test('the attack as reported: the victim accepts a card carrying the attacker’s outer_str', { skip }, async () => {
      const attacker = await h.sandbox.newUser();
      const victim = await h.sandbox.newUser();
      const attackerToken = await h.login(attacker);
      const stolen = await outerStrOf(attackerToken);
      const warned = ignored('unionid_mismatch').length;
      // The attacker sends the victim an open-card link with their extraData; the victim takes the card.
      const { code } = await h.giveCard(victim, { outer_str: stolen });

      const tried = await myCard(attackerToken);
      assert.equal(tried.status, 404, tried.text);
      assert.equal(tried.body.code, 'CARD_NOT_FOUND');
      const mine = await myCard(await h.login(victim));
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.body.card.code, code);
      assert.equal(ignored('unionid_mismatch').length, warned + 1, 'logged as a warning');
      const line = JSON.stringify(ignored('unionid_mismatch').at(-1));
      assert.ok(!line.includes(stolen) && !line.includes(code), `no outer_str or code in ${line}`);
    });

    test('ACTIVATE_CARD never consumes an outer_str, whoever holds the code', { skip }, async () => {
      const attacker = await h.sandbox.newUser({ share_unionid: false });
      const victim = await h.sandbox.newUser({ share_unionid: false });
      const attackerToken = await h.login(attacker);
      const stolen = await outerStrOf(attackerToken);
      // The victim's card is bound to nobody yet (no unionid, no outer_str), then activated with it.
      const { code } = await h.giveCard(victim);
      const { notification_id: id } = await h.sandbox.cardEvent(code, {
        event_type: 'MEMBER_CARD_ACTIVATE',
        outer_str: stolen,
      });
      await h.sandbox.waitDelivered(id);
      assert.equal((await myCard(attackerToken)).status, 404);
      assert.equal((await h.store.getBinding(h.creds.cardId, code))?.userOpenid, undefined);
      // The outer_str is still its owner's, for their own card.
      const own = await h.giveCard(attacker, { outer_str: stolen });
      const reply = await myCard(attackerToken);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.card.code, own.code);
    });

    test('a code another user holds is not taken by an acceptance carrying someone’s outer_str', { skip }, async () => {
      const attacker = await h.sandbox.newUser({ share_unionid: false });
      const victim = await h.sandbox.newUser({ share_unionid: false });
      const victimToken = await h.login(victim);
      const { code } = await h.giveCard(victim, { outer_str: await outerStrOf(victimToken) });
      const attackerToken = await h.login(attacker);
      const warned = ignored('code_held').length;
      assert.equal(
        await acceptAgain({ code, openid: victim.oa_openid, outer_str: await outerStrOf(attackerToken) }),
        204,
      );
      assert.equal((await myCard(attackerToken)).status, 404);
      const mine = await myCard(victimToken);
      assert.equal(mine.status, 200, mine.text);
      assert.equal(mine.body.card.code, code);
      assert.equal(ignored('code_held').length, warned + 1);
    });

    test('after USER_DELETE_MEMBERCARD, a new acceptance may bind the code to its new holder', { skip }, async () => {
      const first = await h.sandbox.newUser({ share_unionid: false });
      const second = await h.sandbox.newUser({ share_unionid: false });
      const firstToken = await h.login(first);
      const { code } = await h.giveCard(first, { outer_str: await outerStrOf(firstToken) });
      const { notification_id: id } = await h.sandbox.cardEvent(code, { event_type: 'USER_DELETE_MEMBERCARD' });
      await h.sandbox.waitDelivered(id);
      assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'retired');
      const secondToken = await h.login(second);
      assert.equal(
        await acceptAgain({ code, openid: second.oa_openid, outer_str: await outerStrOf(secondToken) }),
        204,
      );
      const moved = await h.store.getBinding(h.creds.cardId, code);
      assert.deepEqual(
        [moved?.status, moved?.userOpenid, moved?.oaOpenid],
        ['active', second.mp_openid, second.oa_openid],
      );
      assert.equal((await myCard(firstToken)).status, 404, 'the first holder no longer finds it');
    });
  });
}
