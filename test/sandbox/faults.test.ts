// Injected faults, each as the wechatpay-axios-plugin client sees it.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { oracleFor } from '../support/wechatpay-oracle.js';
import { TestSandbox } from '../support/sandbox.js';
import { api, failure, type Api } from './client.js';
import { sleep } from '../support/poll.js';

describe('sandbox: faults', () => {
  let sb: TestSandbox;
  let client: Api;
  let code: string;
  const ids = (): { card_id: string; code: string } => ({ card_id: sb.credentials.cardId, code });
  const getCard = (): Promise<unknown> => client.get('/cards/{card_id}/codes/{code}', ids());

  before(async () => {
    sb = await TestSandbox.start();
    client = api(sb.credentials);
    ({ code } = await sb.personWithCard({ balance: 1000 }));
  });
  afterEach(async () => {
    await sb.controlReply('DELETE', 'faults');
  });
  after(() => sb.close());

  it('status + code: the client gets that error, signed, for `times` requests only', async () => {
    const set = await sb.controlReply('PUT', 'faults', { status: 503, code: 'SERVICE_UNAVAILABLE', times: 1 });
    assert.equal(set.status, 200);
    assert.equal((set.body.data as unknown[]).length, 1);
    const err = await failure(getCard());
    assert.equal(err.status, 503);
    assert.equal(err.code, 'ERR_BAD_RESPONSE');
    assert.equal((err.data as { code: string }).code, 'SERVICE_UNAVAILABLE');
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200, 'used up after one request');
    assert.deepEqual((await sb.controlReply('GET', 'faults')).body.data, []);
  });

  it('a 429 without a code gets RATELIMIT_EXCEEDED, until DELETE', async () => {
    await sb.controlReply('PUT', 'faults', { status: 429 });
    for (let i = 0; i < 2; i += 1) {
      const err = await failure(getCard());
      assert.equal(err.status, 429);
      assert.equal((err.data as { code: string }).code, 'RATELIMIT_EXCEEDED');
    }
    await sb.controlReply('DELETE', 'faults');
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200);
  });

  it('latency: the client times out AFTER the change was applied; the retry is a no-op', async () => {
    await sb.controlReply('PUT', 'faults', { latency_ms: 400, times: 1 });
    const body = {
      balance_information: { before_balance: 1000, add_balance: 10, balance: 1010 },
      out_request_no: 'slow-1',
    };
    const slow = api(sb.credentials, { timeout: 100 });
    const err = await failure(slow.patch('/cards/{card_id}/codes/{code}', body, ids()));
    assert.match(String(err.code), /^(ECONNABORTED|ETIMEDOUT)$/);
    assert.equal((await sb.card(code)).balance, 1010, 'applied despite the timeout');
    const retry = await client.patch('/cards/{card_id}/codes/{code}', body, ids());
    assert.equal(retry.status, 204);
    assert.equal((await sb.card(code)).balance, 1010, 'not applied twice');
    await sleep(350); // let the delayed answer go out before the next test
  });

  it('reset: the connection drops without an answer (ECONNRESET) and nothing is handled', async () => {
    await sb.controlReply('PUT', 'faults', { reset: true, times: 1 });
    const before = (await sb.card(code)).level;
    const err = await failure(
      client.patch('/cards/{card_id}/codes/{code}', { level: '金卡', out_request_no: 'reset-1' }, ids()),
    );
    assert.equal(err.code, 'ECONNRESET');
    assert.equal((await sb.card(code)).level, before);
    const log = (await sb.controlReply('GET', 'requests')).body.data as Array<{ status: number }>;
    assert.equal(log.at(-1)?.status, 0);
  });

  it('bad_signature: handled, but the answer fails verification (EV3_RES_HEADER_SIGNATURE_DIGEST)', async () => {
    await sb.controlReply('PUT', 'faults', { bad_signature: true, times: 1 });
    const err = await failure(getCard());
    assert.equal(err.code, 'EV3_RES_HEADER_SIGNATURE_DIGEST');
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200);
  });

  it('kinds combine, and `path` limits where a fault applies', async () => {
    await sb.controlReply('PUT', 'faults', [
      { status: 500, latency_ms: 50, path: '/v3/marketing/membercard-open/callback' },
    ]);
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200, 'other paths unaffected');
    const started = Date.now();
    const err = await failure(client.get('/callback'));
    assert.equal(err.status, 500);
    assert.equal((err.data as { code: string }).code, 'SYSTEM_ERROR');
    assert.ok(Date.now() - started >= 45, 'and it was slow');
  });

  it('refuses a fault with nothing in it', async () => {
    const res = await sb.controlReply('PUT', 'faults', { times: 2 });
    assert.equal(res.status, 400);
  });

  it('hang_after_ms: the change IS applied, then no answer ever comes (the connection drops)', async () => {
    await sb.controlReply('PUT', 'faults', { hang_after_ms: 150, times: 1, method: 'PATCH' });
    const before = (await sb.card(code)).balance;
    const body = {
      balance_information: { before_balance: before, add_balance: 1, balance: before + 1 },
      out_request_no: 'hang-1',
    };
    const started = Date.now();
    const err = await failure(client.patch('/cards/{card_id}/codes/{code}', body, ids()));
    assert.equal(err.code, 'ECONNRESET');
    assert.ok(Date.now() - started >= 140, 'held for hang_after_ms first');
    assert.equal((await sb.card(code)).balance, before + 1, 'applied although no answer came');
    const log = (await sb.controlReply('GET', 'requests')).body.data as Array<{ method: string; status: number }>;
    assert.deepEqual(
      [log.at(-1)?.method, log.at(-1)?.status],
      ['PATCH', 0],
      'logged with status 0: nothing was answered',
    );
    const hung = await sb.controlReply('PUT', 'faults', { hang_after_ms: 0, times: 1 });
    assert.equal(hung.status, 200, '0 drops the connection as soon as the request is handled');
  });

  it('signature_probe: the answer carries WECHATPAY/SIGNTEST/…, which no key verifies', async () => {
    await sb.controlReply('PUT', 'faults', { signature_probe: true, times: 1 });
    const err = await failure(getCard());
    assert.equal(err.code, 'EV3_RES_HEADER_SIGNATURE_DIGEST');
    const probe = await oracleFor(sb.credentials).request(
      'GET',
      `/v3/marketing/membercard-open/cards/${sb.credentials.cardId}/codes/${code}`,
    );
    assert.equal(probe.verdict.ok, true, 'used up');
    await sb.controlReply('PUT', 'faults', { signature_probe: true, times: 1 });
    const again = await oracleFor(sb.credentials).request(
      'GET',
      `/v3/marketing/membercard-open/cards/${sb.credentials.cardId}/codes/${code}`,
    );
    assert.match(again.headers.get('wechatpay-signature') ?? '', /^WECHATPAY\/SIGNTEST\//);
    assert.deepEqual([again.status, again.verdict.reason], [200, 'probe']);
  });

  it('sign_with: the answer is signed by the named key (the certificate, not published here)', async () => {
    await sb.controlReply('PUT', 'faults', { sign_with: 'certificate', times: 1 });
    const err = await failure(getCard());
    assert.equal(err.code, 'EV3_RES_HEADER_PLATFORM_SERIAL');
  });

  it('a notification fault takes only signature faults', async () => {
    for (const bad of [
      { notification: true },
      { notification: true, status: 500 },
      { notification: true, hang_after_ms: 5 },
      { sign_with: 'merchant' },
    ]) {
      assert.equal((await sb.controlReply('PUT', 'faults', bad)).status, 400, JSON.stringify(bad));
    }
    const ok = await sb.controlReply('PUT', 'faults', { notification: true, signature_probe: true, times: 1 });
    assert.equal(ok.status, 200);
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200, 'requests unaffected');
  });
});
