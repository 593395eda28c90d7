// Injected faults, each as the wechatpay-axios-plugin client sees it.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { sleep } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { api, failure, type Api } from './client.js';

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
    await sb.clearFaults();
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
    assert.deepEqual((await sb.control('GET', 'faults')).data, []);
  });

  it('a 429 without a code gets RATELIMIT_EXCEEDED, until DELETE', async () => {
    await sb.fault({ status: 429 });
    for (let i = 0; i < 2; i += 1) {
      const err = await failure(getCard());
      assert.equal(err.status, 429);
      assert.equal((err.data as { code: string }).code, 'RATELIMIT_EXCEEDED');
    }
    await sb.clearFaults();
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200);
  });

  it('latency: the client times out AFTER the change was applied; the retry is a no-op', async () => {
    await sb.fault({ latency_ms: 400, times: 1 });
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
    await sb.fault({ reset: true, times: 1 });
    const before = (await sb.card(code)).level;
    const err = await failure(client.patch('/cards/{card_id}/codes/{code}', { level: '金卡' }, ids()));
    assert.equal(err.code, 'ECONNRESET');
    assert.equal((await sb.card(code)).level, before);
    const log = await sb.requests();
    assert.equal(log.at(-1)?.status, 0);
  });

  it('bad_signature: handled, but the answer fails verification (EV3_RES_HEADER_SIGNATURE_DIGEST)', async () => {
    await sb.fault({ bad_signature: true, times: 1 });
    const err = await failure(getCard());
    assert.equal(err.code, 'EV3_RES_HEADER_SIGNATURE_DIGEST');
    assert.equal((await client.get('/cards/{card_id}/codes/{code}', ids())).status, 200);
  });

  it('kinds combine, and `path` limits where a fault applies', async () => {
    await sb.fault([{ status: 500, latency_ms: 50, path: '/v3/marketing/membercard-open/callback' }]);
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
});
