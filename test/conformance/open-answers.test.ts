// The answers the documentation leaves open, each handled defensively and tested against every
// plausible answer (the sandbox's behaviour switches): an answer without openid, an unknown code
// as 404 or as 400, a lost answer followed by a replay answered 204 or 400, signature probes.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { memberCard } from '../../src/member-card.js';
import type { LogFields } from '../../src/log.js';
import { wechatpayOptions } from '../../src/sandbox/index.js';
import { buildNotification } from '../support/notifications.js';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';
import type { SandboxUser } from '../support/sandbox.js';

interface Logged {
  seq: number;
  method: string;
  path: string;
  status: number;
  body?: Record<string, unknown>;
}

describe('conformance: answers the documentation leaves open', () => {
  let h: Harness;
  let seq = 0;
  const rid = (label: string) => `${label}-${process.pid}-${++seq}`;
  const behaviour = (body: Record<string, unknown>) => h.sandbox.control('PUT', 'behaviour', body);
  const fault = (spec: unknown) => h.sandbox.control('PUT', 'faults', spec);
  const card = (code: string) => h.sandbox.control('GET', `cards/${h.creds.cardId}/codes/${encodeURIComponent(code)}`);
  const log = async (): Promise<Logged[]> => ((await h.sandbox.control('GET', 'requests')) as { data: Logged[] }).data;
  const since = async (from: number): Promise<Logged[]> => (await log()).filter((l) => l.seq > from);
  const lastSeq = async (): Promise<number> => (await log()).at(-1)?.seq ?? 0;

  /** A binding made from a notification of ours, for a code that may not exist at WeChat Pay. */
  async function bindByNotification(user: SandboxUser, code: string, openid: string): Promise<void> {
    const { headers, body } = buildNotification({
      eventType: 'MEMBERCARD.ACCEPT_CARD',
      payload: { event_type: 'NEW_ACTIVATE', card_id: h.creds.cardId, code, openid, unionid: user.unionid },
      apiv3Key: h.creds.apiv3Key,
      signingKey: h.sandbox.platformPrivateKey(),
      serial: h.creds.publicKeyId as string,
    });
    assert.equal((await h.api('POST', '/member-card/notify', { raw: body, headers })).status, 204);
  }

  before(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await behaviour({});
    await h.sandbox.control('DELETE', 'faults');
  });
  after(() => h.close());

  describe('a card answer without openid (a member synced by phone number)', () => {
    it('is the bound user’s card: 200, the binding stays active', async () => {
      const user = await h.sandbox.newUser();
      // The ACCEPT_CARD carries the person's 服务号 openid; the card answer carries none.
      await h.giveCard(user, { phone_synced: true, notify: true, balance: 12 });
      const code = (await h.store.findBindingByUnionid(h.creds.cardId, user.unionid))?.code as string;
      assert.ok((await h.store.getBinding(h.creds.cardId, code))?.oaOpenid, 'the binding knows an openid');
      assert.equal('openid' in (await card(code)), false);
      const token = await h.login(user);
      const reply = await h.api('GET', '/member-card', { token });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.card.balance, 12);
      assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'active');
      const op = await h.cards.operations.adjustBalance({
        user: { openid: user.mp_openid, unionid: user.unionid },
        amount: 3,
        requestId: rid('p'),
      });
      assert.equal(op.state, 'applied');
    });

    it('a present openid that differs still flags the binding', async () => {
      const user = await h.sandbox.newUser();
      const other = await h.sandbox.newUser();
      const { code } = await h.giveCard(other);
      await bindByNotification(user, code, 'o-someone-else');
      const token = await h.login(user);
      const reply = await h.api('GET', '/member-card', { token });
      assert.equal(reply.status, 404);
      assert.equal(reply.body.code, 'CARD_NOT_FOUND');
      assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'flagged');
    });
  });

  for (const answer of [404, 400] as const) {
    describe(`an unknown code answered ${answer} (unknownCode ${answer})`, () => {
      it('is CARD_NOT_FOUND for the user; the binding is flagged and not asked about again', async () => {
        await behaviour({ unknownCode: answer });
        const user = await h.sandbox.newUser();
        const code = `GONE${answer}${seq++}`;
        await bindByNotification(user, code, 'o-gone');
        const token = await h.login(user);
        const from = await lastSeq();
        const first = await h.api('GET', '/member-card', { token });
        assert.equal(first.status, 404, first.text);
        assert.equal(first.body.code, 'CARD_NOT_FOUND');
        assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'flagged');
        const again = await h.api('GET', '/member-card', { token });
        assert.equal(again.body.code, 'CARD_NOT_FOUND');
        assert.equal((await since(from)).length, 1, 'one GET upstream, then the flagged binding is not used');
      });

      it('is CARD_NOT_FOUND for merchant operations by code, with nothing sent but the read', async () => {
        await behaviour({ unknownCode: answer });
        const from = await lastSeq();
        await assert.rejects(
          h.cards.operations.adjustBalance({ code: `NOPE${answer}`, amount: 1, requestId: rid('nope') }),
          (err: { code?: string }) => err.code === 'CARD_NOT_FOUND',
        );
        assert.deepEqual(
          (await since(from)).map((l) => l.method),
          ['GET'],
        );
      });
    });
  }

  it('a card_id WeChat Pay does not know (400 会员卡ID无效) is 502, with an error log naming the setting', async () => {
    const logs: Array<{ level: string; message: string; fields?: LogFields }> = [];
    const wrong = memberCard({
      cardId: 'pMCnotours',
      appid: h.creds.appid,
      wechatpay: { ...wechatpayOptions(h.creds), retries: 1 },
      store: 'memory:',
      log: (level, message, fields) => logs.push({ level, message, ...(fields ? { fields } : {}) }),
    });
    await assert.rejects(
      wrong.client.getCard('pMCnotours', '123456789012'),
      (err: { code?: string; status?: number }) => {
        assert.deepEqual([err.code, err.status], ['UPSTREAM_ERROR', 502]);
        return true;
      },
    );
    const error = logs.find((l) => l.level === 'error');
    assert.match(error?.message ?? '', /check the cardId option/);
    assert.equal(JSON.stringify(logs).includes('会员卡ID无效'), false, 'no upstream wording in logs');
    await wrong.close();
  });

  describe('signature probes and answers that do not verify', () => {
    let token: string;
    let code: string;
    before(async () => {
      const user = await h.sandbox.newUser();
      ({ code } = await h.giveCard(user, { balance: 50 }));
      token = await h.login(user);
    });

    for (const kind of ['signature_probe', 'bad_signature'] as const) {
      it(`${kind} once on a GET: retried, the user sees 200; twice: 502 UPSTREAM_ERROR`, async () => {
        await fault({ [kind]: true, times: 1, method: 'GET' });
        const from = await lastSeq();
        const ok = await h.api('GET', '/member-card', { token });
        assert.equal(ok.status, 200, ok.text);
        assert.equal((await since(from)).length, 2, 'the probed answer, then one more GET');
        await fault({ [kind]: true, times: 2, method: 'GET' });
        const bad = await h.api('GET', '/member-card', { token });
        assert.equal(bad.status, 502);
        assert.equal(bad.body.code, 'UPSTREAM_ERROR');
        assert.equal(bad.text.includes('SIGNTEST'), false);
      });
    }

    for (const replay of [204, 400] as const) {
      it(`a probed PATCH answer: retried, same out_request_no, applied once (replayAnswer ${replay})`, async () => {
        await behaviour({ replayAnswer: replay });
        await fault({ signature_probe: true, times: 1, method: 'PATCH' });
        const from = await lastSeq();
        const before = (await card(code)).balance as number;
        const op = await h.cards.operations.adjustBalance({ code, amount: 5, requestId: rid('probe') });
        assert.deepEqual([op.state, op.after], ['applied', before + 5]);
        assert.equal((await card(code)).balance, before + 5);
        const sent = (await since(from)).filter((l) => l.method === 'PATCH');
        assert.equal(sent.length, 2);
        assert.equal(sent[0]?.body?.out_request_no, sent[1]?.body?.out_request_no);
      });
    }
  });

  for (const replay of [204, 400] as const) {
    describe(`a lost answer, then the replay answered ${replay} (replayAnswer ${replay})`, () => {
      const kinds = [
        ['balance', { balance: 1000 }],
        ['points', { bonus_value: 100 }],
        ['level', {}],
      ] as const;
      for (const [kind, start] of kinds) {
        for (const hang of [0, 1700]) {
          it(`${kind}: applied and recorded once, ≤ 2 PATCHes, one number (hang_after_ms ${hang})`, async () => {
            await behaviour({ replayAnswer: replay });
            const user = await h.sandbox.newUser();
            const { code } = await h.giveCard(user, start);
            await fault({ hang_after_ms: hang, times: 1, method: 'PATCH' });
            const from = await lastSeq();
            const requestId = rid(`${kind}-${hang}`);
            const ops = h.cards.operations;
            const op =
              kind === 'balance'
                ? await ops.adjustBalance({ code, amount: -300, requestId })
                : kind === 'points'
                  ? await ops.adjustPoints({ code, amount: 30, requestId })
                  : await ops.setLevel({ code, level: '钻石会员', requestId });
            assert.equal(op.state, 'applied');
            assert.equal((await h.store.getOperation(h.creds.cardId, requestId))?.state, 'applied');
            const stored = await card(code);
            if (kind === 'balance') assert.equal(stored.balance, 700);
            if (kind === 'points') assert.equal(stored.bonus_value, 130);
            if (kind === 'level') assert.equal(stored.level, '钻石会员');
            const applied = kind === 'points' ? stored.applied.rights : stored.applied.card;
            assert.deepEqual(applied, [op.outRequestNo], 'applied once');
            await new Promise((r) => setTimeout(r, hang ? 200 : 0)); // the hung attempt is logged when it drops
            const sent = (await since(from)).filter((l) => l.method === 'PATCH');
            assert.ok(sent.length >= 1 && sent.length <= 2, `${sent.length} PATCHes`);
            assert.ok(sent.every((l) => l.body?.out_request_no === op.outRequestNo));
            assert.equal((await ops.history({ code })).length, 1, 'one audit line');
            // The same requestId again answers from the journal, without another PATCH.
            const again = await (kind === 'level'
              ? ops.setLevel({ code, level: '钻石会员', requestId })
              : kind === 'points'
                ? ops.adjustPoints({ code, amount: 30, requestId })
                : ops.adjustBalance({ code, amount: -300, requestId }));
            assert.equal(again.state, 'applied');
          });
        }
      }

      it('a self-service edit whose answer was lost is answered 200, not as a failure', async () => {
        await behaviour({ replayAnswer: replay });
        const user = await h.sandbox.newUser();
        await h.giveCard(user);
        const token = await h.login(user);
        await fault({ hang_after_ms: 0, times: 1, method: 'PATCH' });
        const reply = await h.api('PUT', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[1] } });
        assert.equal(reply.status, 200, reply.text);
        assert.equal(reply.body.card.background_picture_url, BACKGROUNDS[1]);
      });
    });
  }

  for (const answer of [200, 204] as const) {
    it(`PATCH /callback answered ${answer} (callbackPatchAnswer ${answer}): our client registers the URL`, async () => {
      await behaviour({ callbackPatchAnswer: answer });
      const url = `${h.url}/member-card/notify`;
      await h.cards.client.setNotifyUrl(url);
      assert.equal((await h.cards.client.getNotifyUrl()).notify_url, url);
    });
  }

  it('our requests send Accept and Content-Type application/json (requireJsonHeaders true)', async () => {
    await behaviour({ requireJsonHeaders: true });
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 5 });
    const op = await h.cards.operations.adjustBalance({ code, amount: 1, requestId: rid('json') });
    assert.equal(op.state, 'applied');
    const reply = await h.api('GET', '/member-card', { token: await h.login(user) });
    assert.equal(reply.status, 200, reply.text);
  });

  it('a genuine refusal is still recorded as failed: the card shows the change was not made', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user, { balance: 10 });
    await fault({ status: 400, code: 'INVALID_REQUEST', times: 1, method: 'PATCH' });
    const requestId = rid('refused');
    await assert.rejects(
      h.cards.operations.adjustBalance({ code, amount: 5, requestId }),
      (err: { code?: string }) => err.code === 'INVALID_REQUEST',
    );
    assert.equal((await h.store.getOperation(h.creds.cardId, requestId))?.state, 'failed');
    assert.equal((await card(code)).balance, 10);
  });
});
