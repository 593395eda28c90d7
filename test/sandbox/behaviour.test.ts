// The switches for what the documentation leaves open: set at start, changed over the control API,
// each value doing what it says; merchant-chosen codes; members synced by phone number.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { parseSandboxArgs } from '../../src/sandbox/cli.js';
import { BEHAVIOUR, startSandbox } from '../../src/sandbox/index.js';
import { oracleFor, segment, type WechatpayOracle } from '../support/wechatpay-oracle.js';
import { TestSandbox } from '../support/sandbox.js';

const PREFIX = '/v3/marketing/membercard-open';
let seq = 0;
const no = (): string => `b-${process.pid}-${++seq}`;

describe('sandbox: behaviour switches', () => {
  let sb: TestSandbox;
  let oracle: WechatpayOracle;
  const cardPath = (code: string): string => `${PREFIX}/cards/${sb.credentials.cardId}/codes/${segment(code)}`;
  const errorOf = (body: unknown): { code: string; message: string; detail?: { field: string } } =>
    body as { code: string; message: string; detail?: { field: string } };

  before(async () => {
    sb = await TestSandbox.start();
    oracle = oracleFor(sb.credentials);
  });
  afterEach(() => sb.controlReply('PUT', 'behaviour', {}));
  after(() => sb.close());

  it('GET lists every switch at its default; PUT replaces them from the start-up set; bad ones are 400', async () => {
    const defaults = Object.fromEntries(Object.entries(BEHAVIOUR).map(([k, v]) => [k, v.values[0]]));
    assert.deepEqual((await sb.controlReply('GET', 'behaviour')).body, defaults);
    const set = await sb.controlReply('PUT', 'behaviour', { replayAnswer: 400, listDeleted: true });
    assert.deepEqual(set.body, { ...defaults, replayAnswer: 400, listDeleted: true });
    const again = await sb.controlReply('PUT', 'behaviour', { unknownCode: 400 });
    assert.equal(again.body.replayAnswer, 204, 'a PUT starts from the start-up set');
    for (const bad of [{ replayAnswer: 500 }, { nope: 1 }, { listDeleted: 'yes' }]) {
      const res = await sb.controlReply('PUT', 'behaviour', bad);
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.code, 'PARAM_ERROR');
    }
  });

  it('start-up switches come from SandboxOptions.behaviour and the CLI; a bad one names the option', async () => {
    const other = await TestSandbox.start({ behaviour: { replayAnswer: 400, retrySchedule: 'payment' } });
    try {
      const body = (await other.controlReply('GET', 'behaviour')).body;
      assert.equal(body.replayAnswer, 400);
      assert.equal(body.retrySchedule, 'payment');
      await other.controlReply('PUT', 'behaviour', {});
      assert.equal((await other.controlReply('GET', 'behaviour')).body.replayAnswer, 400, 'PUT {} restores the start');
    } finally {
      await other.close();
    }
    await assert.rejects(startSandbox({ behaviour: { replayAnswer: 201 as 204 } }), /behaviour\.replayAnswer/);
    const parsed = parseSandboxArgs([
      'sandbox',
      '--migrating',
      '--retry-schedule',
      'payment',
      '--behaviour',
      'replayAnswer=400',
      '--behaviour=listDeleted=true',
    ]);
    assert.equal(parsed.platformMode, 'migrating');
    assert.deepEqual(parsed.behaviour, { retrySchedule: 'payment', replayAnswer: 400, listDeleted: true });
    assert.throws(() => parseSandboxArgs(['--behaviour', 'replayAnswer=500']), /replayAnswer/);
    assert.throws(() => parseSandboxArgs(['--certificate', '--migrating']), /exclude/);
  });

  it('replayAnswer: a replayed out_request_no answers 204, or 400 INVALID_REQUEST naming it; once', async () => {
    const { code } = await sb.personWithCard({ balance: 100 });
    const number = no();
    const body = { out_request_no: number, balance_information: { before_balance: 100, add_balance: 1, balance: 101 } };
    assert.equal((await oracle.request('PATCH', cardPath(code), { body })).status, 204);
    assert.equal((await oracle.request('PATCH', cardPath(code), { body })).status, 204);
    await sb.controlReply('PUT', 'behaviour', { replayAnswer: 400 });
    const used = await oracle.request('PATCH', cardPath(code), { body });
    assert.equal(used.status, 400);
    assert.equal(errorOf(used.body).code, 'INVALID_REQUEST');
    assert.match(errorOf(used.body).message, new RegExp(`out_request_no ${number}`));
    assert.equal(used.verdict.ok, true, 'signed like every answer');
    const rights = { out_request_no: no(), before_bonus_value: 0, add_bonus_value: 2, bonus_value: 2 };
    assert.equal((await oracle.request('PATCH', `${cardPath(code)}/rights`, { body: rights })).status, 204);
    assert.equal((await oracle.request('PATCH', `${cardPath(code)}/rights`, { body: rights })).status, 400);
    const card = await sb.card(code);
    assert.deepEqual([card.balance, card.bonus_value], [101, 2]);
  });

  it('unknownCode: 404 RESOURCE_NOT_EXISTS, or 400 INVALID_REQUEST naming the code', async () => {
    const missing = await oracle.request('GET', cardPath('404404404404'));
    assert.equal(missing.status, 404);
    await sb.controlReply('PUT', 'behaviour', { unknownCode: 400 });
    const named = await oracle.request('GET', cardPath('404404404404'));
    assert.equal(named.status, 400);
    assert.equal(errorOf(named.body).code, 'INVALID_REQUEST');
    assert.match(errorOf(named.body).message, /\bcode 404404404404\b/);
  });

  it('emptyPatch: a PATCH that changes no field is refused, or accepted with 204', async () => {
    const { code } = await sb.personWithCard();
    const body = { out_request_no: no(), need_inform_level: false };
    assert.equal((await oracle.request('PATCH', cardPath(code), { body })).status, 400);
    await sb.controlReply('PUT', 'behaviour', { emptyPatch: 'accept' });
    assert.equal(
      (await oracle.request('PATCH', cardPath(code), { body: { ...body, out_request_no: no() } })).status,
      204,
    );
  });

  it('balanceCheck off: numbers that do not add up are applied as the after value', async () => {
    const { code } = await sb.personWithCard({ balance: 888 });
    // The official sample itself sends 888 / 888 / 100.
    const body = { out_request_no: no(), balance_information: { before_balance: 888, balance: 888, add_balance: 100 } };
    assert.equal((await oracle.request('PATCH', cardPath(code), { body })).status, 400);
    await sb.controlReply('PUT', 'behaviour', { balanceCheck: 'off' });
    assert.equal(
      (await oracle.request('PATCH', cardPath(code), { body: { ...body, out_request_no: no() } })).status,
      204,
    );
    assert.equal((await sb.card(code)).balance, 888);
  });

  it('statusCheck off: a card that is not EFFECTIVE takes changes', async () => {
    const { code } = await sb.personWithCard({ user_card_status: 'EXPIRE' });
    const body = { out_request_no: no(), level: '金卡' };
    assert.equal((await oracle.request('PATCH', cardPath(code), { body })).status, 400);
    await sb.controlReply('PUT', 'behaviour', { statusCheck: 'off' });
    assert.equal(
      (await oracle.request('PATCH', cardPath(code), { body: { ...body, out_request_no: no() } })).status,
      204,
    );
  });

  it('requireJsonHeaders: Accept (and Content-Type with a body) must be application/json', async () => {
    const { code } = await sb.personWithCard();
    const plain = { headers: { Accept: 'text/plain' } };
    assert.equal((await oracle.request('GET', cardPath(code), plain)).status, 200);
    await sb.controlReply('PUT', 'behaviour', { requireJsonHeaders: true });
    const refused = await oracle.request('GET', cardPath(code), plain);
    assert.equal(refused.status, 400);
    assert.equal(errorOf(refused.body).detail?.field, 'Accept');
    assert.equal((await oracle.request('GET', cardPath(code))).status, 200);
    const form = await oracle.request('PATCH', cardPath(code), {
      body: { out_request_no: no(), level: '金卡' },
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(errorOf(form.body).detail?.field, 'Content-Type');
  });

  it('callbackUnset: GET /callback before any PATCH is an empty notify_url, or 404', async () => {
    const fresh = await TestSandbox.start();
    try {
      const o = oracleFor(fresh.credentials);
      assert.deepEqual((await o.request('GET', `${PREFIX}/callback`)).body, {
        notify_url: '',
        mchid: fresh.credentials.mchid,
      });
      await fresh.controlReply('PUT', 'behaviour', { callbackUnset: 404 });
      assert.equal((await o.request('GET', `${PREFIX}/callback`)).status, 404);
    } finally {
      await fresh.close();
    }
  });
});

describe('sandbox: codes the merchant chose, and members synced by phone number', () => {
  let sb: TestSandbox;
  let oracle: WechatpayOracle;
  before(async () => {
    sb = await TestSandbox.start();
    oracle = oracleFor(sb.credentials);
  });
  after(() => sb.close());

  for (const code of ['A/B?c#d%', 'x y', '50%', '会员1', 'a.b', '…', 'A'.repeat(32)]) {
    it(`code ${JSON.stringify(code)} round-trips percent-encoded: GET and PATCH, signed as sent`, async () => {
      const u = await sb.controlReply('POST', 'users', {});
      const made = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
        unionid: u.body.unionid,
        code,
        balance: 5,
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.code, code);
      const path = `${PREFIX}/cards/${sb.credentials.cardId}/codes/${segment(code)}`;
      const got = await oracle.request('GET', path);
      assert.equal(got.status, 200, got.text);
      assert.equal((got.body as { code: string }).code, code);
      const body = { out_request_no: no(), balance_information: { before_balance: 5, add_balance: 5, balance: 10 } };
      assert.equal((await oracle.request('PATCH', path, { body })).status, 204);
      assert.equal(
        (await sb.controlReply('GET', `cards/${sb.credentials.cardId}/codes/${segment(code)}`)).body.balance,
        10,
      );
    });
  }

  it('refuses a chosen code over 32 characters, with a control character, or taken', async () => {
    const u = await sb.controlReply('POST', 'users', {});
    for (const code of ['A'.repeat(33), 'a\nb']) {
      const res = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
        unionid: u.body.unionid,
        code,
      });
      assert.equal(res.status, 400, code);
    }
    await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, { unionid: u.body.unionid, code: 'TAKEN' });
    const taken = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
      unionid: u.body.unionid,
      code: 'TAKEN',
    });
    assert.equal(taken.status, 409);
  });

  it('a phone-synced card answers without openid, nickname and head image, and sends no notification', async () => {
    const u = await sb.controlReply('POST', 'users', {});
    const made = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
      unionid: u.body.unionid,
      phone_synced: true,
      balance: 7,
    });
    assert.deepEqual(Object.keys(made.body), ['code'], 'no notification id');
    const code = String(made.body.code);
    const got = await oracle.request('GET', `${PREFIX}/cards/${sb.credentials.cardId}/codes/${code}`);
    const card = got.body as Record<string, unknown>;
    assert.equal(got.status, 200);
    assert.equal(card.balance, 7);
    for (const absent of ['openid', 'nickname', 'head_image_url']) assert.equal(absent in card, false, absent);
    const notes = (await sb.controlReply('GET', 'notifications')).body.data as Array<{ code: string }>;
    assert.equal(
      notes.some((n) => n.code === code),
      false,
    );
  });
});
