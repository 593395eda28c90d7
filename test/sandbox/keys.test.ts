// The platform's two keys: the public key (PUB_KEY_ID_…) and the certificate have pairs of their
// own, answers follow the request's Wechatpay-Serial in migrating mode, and the request header can
// be checked or required.
import assert from 'node:assert/strict';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { oracleFor } from '../support/wechatpay-oracle.js';
import { TestSandbox } from '../support/sandbox.js';

const PREFIX = '/v3/marketing/membercard-open';

/** Checks an answer's signature with a key, over `timestamp\nnonce\nbody\n`. */
function signedBy(res: { headers: Headers; text: string }, pem: string): boolean {
  // Checked here by hand too, so a key mix-up shows even if the oracle trusted both keys.
  const message = `${res.headers.get('wechatpay-timestamp')}\n${res.headers.get('wechatpay-nonce')}\n${res.text}\n`;
  const signature = Buffer.from(res.headers.get('wechatpay-signature') ?? '', 'base64');
  return verify('sha256', Buffer.from(message), createPublicKey(pem), signature);
}

describe('sandbox: migrating mode (both platform keys published)', () => {
  let sb: TestSandbox;
  let code: string;
  let publicKey: string;
  let certificate: string;
  const get = (headers: Record<string, string> = {}) =>
    oracleFor(sb.credentials).request('GET', `${PREFIX}/cards/${sb.credentials.cardId}/codes/${code}`, { headers });

  before(async () => {
    sb = await TestSandbox.start({ platformMode: 'migrating' });
    ({ code } = await sb.personWithCard());
    publicKey = readFileSync(sb.credentials.publicKey ?? '', 'utf8');
    certificate = readFileSync(sb.credentials.platformCertificate ?? '', 'utf8');
  });
  afterEach(() => sb.controlReply('PUT', 'behaviour', {}));
  after(() => sb.close());

  it('publishes both, and the certificate holds a key pair of its own', () => {
    const c = sb.credentials;
    assert.match(c.publicKeyId ?? '', /^PUB_KEY_ID_01\d{32}$/);
    assert.match(c.platformCertificateSerial ?? '', /^[0-9A-F]{40}$/);
    const cert = new X509Certificate(certificate);
    assert.equal(cert.serialNumber, c.platformCertificateSerial);
    assert.equal(
      cert.publicKey.export({ type: 'spki', format: 'pem' }) ===
        createPublicKey(publicKey).export({ type: 'spki', format: 'pem' }),
      false,
      'a client that takes one for the other must fail',
    );
  });

  it('a request naming the public key gets an answer signed by it; any other gets the certificate', async () => {
    const byKey = await get({ 'wechatpay-serial': sb.credentials.publicKeyId ?? '' });
    assert.equal(byKey.status, 200);
    assert.equal(byKey.verdict.ok, true);
    assert.equal(byKey.headers.get('wechatpay-serial'), sb.credentials.publicKeyId);
    assert.equal(signedBy(byKey, publicKey), true);
    assert.equal(signedBy(byKey, certificate), false);
    const certificateSerial: Record<string, string> = {
      'wechatpay-serial': sb.credentials.platformCertificateSerial ?? '',
    };
    for (const headers of [{}, certificateSerial]) {
      const byCert = await get(headers);
      assert.equal(byCert.status, 200);
      assert.equal(byCert.headers.get('wechatpay-serial'), sb.credentials.platformCertificateSerial);
      assert.equal(signedBy(byCert, certificate), true);
      assert.equal(signedBy(byCert, publicKey), false);
    }
  });

  it('signWith forces one key whatever the request names', async () => {
    await sb.controlReply('PUT', 'behaviour', { signWith: 'certificate' });
    const res = await get({ 'wechatpay-serial': sb.credentials.publicKeyId ?? '' });
    assert.equal(res.headers.get('wechatpay-serial'), sb.credentials.platformCertificateSerial);
    assert.equal(signedBy(res, certificate), true);
    await sb.controlReply('PUT', 'behaviour', { signWith: 'publicKey' });
    assert.equal((await get()).headers.get('wechatpay-serial'), sb.credentials.publicKeyId);
  });

  it('the request log keeps the Wechatpay-Serial sent and the one that signed the answer', async () => {
    await sb.controlReply('DELETE', 'requests');
    await get({ 'wechatpay-serial': sb.credentials.publicKeyId ?? '' });
    await get();
    const log = (await sb.controlReply('GET', 'requests')).body.data as Array<Record<string, unknown>>;
    assert.deepEqual(
      log.map((l) => [l.request_serial, l.answer_serial]),
      [
        [sb.credentials.publicKeyId, sb.credentials.publicKeyId],
        [null, sb.credentials.platformCertificateSerial],
      ],
    );
  });

  it('requestSerial: check refuses a serial that names no platform key; require refuses none at all', async () => {
    assert.equal((await get({ 'wechatpay-serial': 'PUB_KEY_ID_0000' })).status, 200, 'ignored by default');
    await sb.controlReply('PUT', 'behaviour', { requestSerial: 'check' });
    const wrong = await get({ 'wechatpay-serial': 'PUB_KEY_ID_0000' });
    assert.equal(wrong.status, 400);
    assert.equal((wrong.body as { code: string }).code, 'INVALID_REQUEST');
    assert.equal((await get()).status, 200, 'absent is fine when only checked');
    await sb.controlReply('PUT', 'behaviour', { requestSerial: 'require' });
    const none = await get();
    assert.equal(none.status, 400);
    assert.match(String((none.body as { message: string }).message), /Wechatpay-Serial/);
    const lower = (sb.credentials.platformCertificateSerial ?? '').toLowerCase();
    assert.equal((await get({ 'wechatpay-serial': lower })).status, 200, 'serials compare case-insensitively');
  });
});

describe('sandbox: the mode key, and the switch to the migration rule', () => {
  it('public-key mode signs with the public key whatever the request names, until signWith header', async () => {
    const sb = await TestSandbox.start();
    try {
      const { code } = await sb.personWithCard();
      const target = `${PREFIX}/cards/${sb.credentials.cardId}/codes/${code}`;
      const oracle = oracleFor(sb.credentials);
      const first = await oracle.request('GET', target, { headers: { 'wechatpay-serial': 'ANY' } });
      assert.equal(first.headers.get('wechatpay-serial'), sb.credentials.publicKeyId);
      assert.equal(first.verdict.ok, true);
      await sb.controlReply('PUT', 'behaviour', { signWith: 'header' });
      const res = await oracle.request('GET', target);
      assert.match(
        res.headers.get('wechatpay-serial') ?? '',
        /^[0-9A-F]{40}$/,
        'the certificate, which it does not publish',
      );
    } finally {
      await sb.close();
    }
  });
});
