// Request checks and response signatures, with the real client and with hand-signed requests.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { TestSandbox } from '../support/sandbox.js';
import { api, failure, handSigned, type Api } from './client.js';

describe('sandbox: signed requests (public-key mode)', () => {
  let sb: TestSandbox;
  let client: Api;
  let code: string;
  const cardPath = (): string => `/v3/marketing/membercard-open/cards/${sb.credentials.cardId}/codes/${code}`;

  before(async () => {
    sb = await TestSandbox.start();
    client = api(sb.credentials);
    ({ code } = await sb.personWithCard({ balance: 500 }));
  });
  after(() => sb.close());

  it('answers a signed GET with the card, and the client verifies the answer', async () => {
    const res = await client.get('/cards/{card_id}/codes/{code}', { card_id: sb.credentials.cardId, code });
    assert.equal(res.status, 200);
    const card = res.data as Record<string, unknown>;
    assert.equal(card.code, code);
    assert.equal(card.balance, 500);
    assert.equal(card.membership_number, code);
    assert.equal(card.user_card_status, 'EFFECTIVE');
    assert.equal(card.level, '普通会员');
    assert.equal('unionid' in card, false, 'sandbox bookkeeping stays out of the answer');
    assert.equal(res.headers['wechatpay-serial'], sb.credentials.publicKeyId);
    assert.match(String(res.headers['request-id']), /^[0-9A-F]{32}$/);
  });

  it('applies a signed PATCH (204) and the change is stored', async () => {
    const res = await client.patch(
      '/cards/{card_id}/codes/{code}',
      { level: '钻石会员', membership_number: 'VIP-0001', out_request_no: 'sig-patch-1' },
      { card_id: sb.credentials.cardId, code },
    );
    assert.equal(res.status, 204);
    assert.equal(res.data, '');
    const stored = await sb.card(code);
    assert.equal(stored.level, '钻石会员');
    assert.equal(stored.membership_number, 'VIP-0001');
  });

  it('signs error answers and 204s with the platform key (not the merchant key)', async () => {
    const platform = createPublicKey(readFileSync(sb.credentials.publicKey ?? ''));
    const merchant = createPublicKey(readFileSync(sb.credentials.privateKey));
    for (const [method, body, expected] of [
      ['GET', '', 200],
      ['PATCH', '{"bogus":1}', 400],
      ['PATCH', '{"level":"金卡","out_request_no":"sig-204"}', 204],
    ] as const) {
      const res = await handSigned(sb.credentials, { method, target: cardPath(), body });
      assert.equal(res.status, expected);
      const message = Buffer.from(
        `${res.headers.get('wechatpay-timestamp')}\n${res.headers.get('wechatpay-nonce')}\n${res.text}\n`,
      );
      const signature = Buffer.from(res.headers.get('wechatpay-signature') ?? '', 'base64');
      assert.equal(verify('sha256', message, platform, signature), true, `${method} ${expected} verifies`);
      assert.equal(verify('sha256', message, merchant, signature), false, 'merchant and platform keys differ');
      assert.equal(res.headers.get('wechatpay-signature-type'), 'WECHATPAY2-SHA256-RSA2048');
      assert.ok(res.headers.get('request-id'));
    }
  });

  it('accepts an independent hand-signed request with reordered Authorization parameters', async () => {
    const res = await handSigned(sb.credentials, {
      method: 'GET',
      target: cardPath(),
      order: ['signature', 'timestamp', 'serial_no', 'nonce_str', 'mchid'],
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.code, code);
  });

  it('checks the raw query string as sent', async () => {
    const query = `openid=nobody&appid=${sb.credentials.appid}&offset=0&limit=5`;
    const target = `/v3/marketing/membercard-open/user/cards?${query}`;
    const ok = await handSigned(sb.credentials, { method: 'GET', target });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.body, { data: [], total_count: 0, offset: 0, limit: 5 });
  });

  const refusals: Array<[string, () => Promise<{ status: number; body: Record<string, unknown> }>, RegExp]> = [
    [
      'a wrong key',
      () =>
        handSigned(sb.credentials, {
          method: 'GET',
          target: cardPath(),
          key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
        }),
      /signature/,
    ],
    [
      'a wrong serial',
      () => handSigned(sb.credentials, { method: 'GET', target: cardPath(), serial: '7'.repeat(40) }),
      /serial_no/,
    ],
    [
      'an unknown mchid',
      () => handSigned(sb.credentials, { method: 'GET', target: cardPath(), mchid: '1900000000' }),
      /unknown mchid/,
    ],
    [
      'an old timestamp',
      () =>
        handSigned(sb.credentials, {
          method: 'GET',
          target: cardPath(),
          timestamp: String(Math.floor(Date.now() / 1000) - 301),
        }),
      /timestamp expired/,
    ],
    [
      'a future timestamp',
      () =>
        handSigned(sb.credentials, {
          method: 'GET',
          target: cardPath(),
          timestamp: String(Math.floor(Date.now() / 1000) + 400),
        }),
      /timestamp expired/,
    ],
    [
      'a tampered body',
      () =>
        handSigned(sb.credentials, {
          method: 'PATCH',
          target: cardPath(),
          body: '{"level":"银卡","out_request_no":"t-1"}',
          sentBody: '{"level":"金卡","out_request_no":"t-1"}',
        }),
      /signature/,
    ],
    [
      'a tampered path',
      () => handSigned(sb.credentials, { method: 'GET', target: cardPath(), sentTarget: `${cardPath()}?extra=1` }),
      /signature/,
    ],
    [
      'a different method',
      () => handSigned(sb.credentials, { method: 'GET', target: cardPath(), sentMethod: 'DELETE' }),
      /signature/,
    ],
  ];

  for (const [what, send, message] of refusals) {
    it(`refuses ${what} with 401 SIGN_ERROR`, async () => {
      const res = await send();
      assert.equal(res.status, 401);
      assert.equal(res.body.code, 'SIGN_ERROR');
      assert.match(String(res.body.message), message);
    });
  }

  it('refuses a replayed nonce with 401 SIGN_ERROR', async () => {
    const first = await handSigned(sb.credentials, { method: 'GET', target: cardPath(), nonce: 'REPLAYED-NONCE-1' });
    assert.equal(first.status, 200);
    const again = await handSigned(sb.credentials, { method: 'GET', target: cardPath(), nonce: 'REPLAYED-NONCE-1' });
    assert.equal(again.status, 401);
    assert.equal(again.body.code, 'SIGN_ERROR');
    assert.match(String(again.body.message), /nonce/);
  });

  it('refuses a missing or malformed Authorization', async () => {
    const none = await fetch(new URL(cardPath().slice(1), sb.url));
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { code: string }).code, 'SIGN_ERROR');
    assert.ok(none.headers.get('wechatpay-signature'), 'a 401 is signed too');
    const bad = await fetch(new URL(cardPath().slice(1), sb.url), { headers: { authorization: 'Bearer abc' } });
    assert.equal(bad.status, 401);
  });

  it('the client rejects an answer signed by a key it does not trust', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' });
    const { Wechatpay } = await import('wechatpay-axios-plugin');
    const c = sb.credentials;
    const wxpay = new Wechatpay({
      mchid: c.mchid,
      serial: c.serial,
      privateKey: readFileSync(c.privateKey),
      certs: { [c.publicKeyId ?? '']: other },
      baseURL: c.baseURL,
    });
    const err = await failure(wxpay.chain('v3/marketing/membercard-open/callback').get({}));
    assert.equal(err.code, 'EV3_RES_HEADER_SIGNATURE_DIGEST');
  });
});

describe('sandbox: certificate mode', () => {
  let sb: TestSandbox;
  before(async () => {
    sb = await TestSandbox.start({ platformMode: 'certificate' });
  });
  after(() => sb.close());

  it('publishes a real X.509 platform certificate and signs with it', async () => {
    const c = sb.credentials;
    assert.equal(c.publicKeyId, undefined);
    assert.match(c.platformCertificateSerial ?? '', /^[0-9A-F]{40}$/);
    const { X509Certificate } = await import('node:crypto');
    const cert = new X509Certificate(readFileSync(c.platformCertificate ?? ''));
    assert.equal(cert.serialNumber, c.platformCertificateSerial);
    assert.equal(cert.verify(cert.publicKey), true, 'self-signed');
    const { code } = await sb.personWithCard();
    const res = await api(c).get('/cards/{card_id}/codes/{code}', { card_id: c.cardId, code });
    assert.equal(res.status, 200);
    assert.equal(res.headers['wechatpay-serial'], c.platformCertificateSerial);
    const patched = await api(c).patch(
      '/cards/{card_id}/codes/{code}',
      { level: '金卡', out_request_no: 'cert-1' },
      { card_id: c.cardId, code },
    );
    assert.equal(patched.status, 204);
  });
});
