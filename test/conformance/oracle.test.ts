// The sandbox driven by a second APIv3 client written from the documentation alone
// (test/support/wechatpay-oracle.ts: node:crypto + fetch, no code shared with the plugin or the
// sandbox's signer): signed GET and PATCH, answers verified with the public key, the certificate,
// or the key the request names while migrating; notifications verified and decrypted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSandbox, type PlatformMode, type Sandbox } from '../../src/sandbox/index.js';
import { NotifyReceiver } from '../support/notify-receiver.js';
import { decryptResource, oracleFor, segment, type OracleAnswer } from '../support/wechatpay-oracle.js';

const PREFIX = '/v3/marketing/membercard-open';

async function control(sb: Sandbox, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(new URL(`sandbox/${path}`, sb.url), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  return res.json();
}

const modes: Array<[PlatformMode, 'publicKey' | 'certificate' | 'both']> = [
  ['publicKey', 'publicKey'],
  ['certificate', 'certificate'],
  ['migrating', 'both'],
];

for (const [mode, trust] of modes) {
  describe(`conformance (independent client): ${mode} mode`, () => {
    let sb: Sandbox;
    let code: string;
    const path = () => `${PREFIX}/cards/${sb.credentials.cardId}/codes/${segment(code)}`;
    before(async () => {
      sb = await startSandbox({ platformMode: mode });
      const user = await control(sb, 'POST', 'users', {});
      code = (await control(sb, 'POST', `cards/${sb.credentials.cardId}/codes`, { unionid: user.unionid, balance: 10 }))
        .code;
    });
    after(() => sb.close());

    /** In migrating mode, the key the request names signs the answer: name the public key. */
    const oracle = () =>
      oracleFor(sb.credentials, {
        trust: trust === 'both' ? 'publicKey' : trust,
        ...(mode === 'migrating' ? { requestSerial: sb.credentials.publicKeyId } : {}),
      });

    const verified = (a: OracleAnswer, status: number) => {
      assert.equal(a.status, status, a.text);
      assert.deepEqual(a.verdict, { ok: true, serial: a.headers.get('wechatpay-serial') });
    };

    it('a signed GET is answered 200 with the card, and the answer verifies', async () => {
      const got = await oracle().request('GET', path());
      verified(got, 200);
      assert.deepEqual([(got.body as { code: string }).code, (got.body as { balance: number }).balance], [code, 10]);
    });

    it('a signed PATCH is answered 204, signed over the empty body; the change is stored', async () => {
      const body = {
        out_request_no: `o-${mode}`,
        balance_information: { before_balance: 10, add_balance: 5, balance: 15 },
      };
      const patched = await oracle().request('PATCH', path(), { body });
      verified(patched, 204);
      assert.equal(patched.text, '');
      assert.equal(((await oracle().request('GET', path())).body as { balance: number }).balance, 15);
    });

    it('error answers are signed too (400 PARAM_ERROR naming the field, 401 SIGN_ERROR)', async () => {
      const bad = await oracle().request('PATCH', path(), { body: { out_request_no: 'x', colour: 'red' } });
      verified(bad, 400);
      assert.deepEqual((bad.body as { code: string; detail: { field: string } }).detail.field, 'colour');
      const stale = await oracle().request('GET', path(), { timestamp: Math.floor(Date.now() / 1000) - 301 });
      verified(stale, 401);
      assert.equal((stale.body as { code: string }).code, 'SIGN_ERROR');
    });

    it('the answer does not verify with the other platform key, nor with a changed body', async () => {
      if (mode !== 'migrating') {
        const other = oracleFor(sb.credentials, { trust: trust === 'publicKey' ? 'certificate' : 'publicKey' });
        const got = await other.request('GET', path());
        assert.equal(got.verdict.ok, false);
      }
      const got = await oracle().request('GET', path());
      const tampered = oracle().verify(got.headers, got.text.replace('"balance":15', '"balance":16'));
      assert.deepEqual([tampered.ok, tampered.reason], [false, 'signature']);
    });
  });
}

describe('conformance (independent client): migrating mode follows the request’s Wechatpay-Serial', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ platformMode: 'migrating' });
  });
  after(() => sb.close());

  it('names the public key → signed by it; names nothing or the certificate → signed by the certificate', async () => {
    const target = `${PREFIX}/callback`;
    const key = await oracleFor(sb.credentials, {
      trust: 'publicKey',
      requestSerial: sb.credentials.publicKeyId,
    }).request('GET', target);
    assert.deepEqual(key.verdict, { ok: true, serial: sb.credentials.publicKeyId });
    for (const requestSerial of [undefined, sb.credentials.platformCertificateSerial]) {
      const keyOnly = oracleFor(sb.credentials, { trust: 'publicKey', ...(requestSerial ? { requestSerial } : {}) });
      const answer = await keyOnly.request('GET', target);
      assert.deepEqual([answer.status, answer.verdict.reason], [200, 'serial'], 'a key-only merchant cannot verify it');
      assert.equal(oracleFor(sb.credentials, { trust: 'certificate' }).verify(answer.headers, answer.text).ok, true);
    }
  });
});

describe('conformance (independent client): notifications verified and decrypted', () => {
  let sb: Sandbox;
  let receiver: NotifyReceiver;
  before(async () => {
    sb = await startSandbox({ retryFactor: 0.001 });
    receiver = new NotifyReceiver();
    const url = await receiver.listen();
    const set = await oracleFor(sb.credentials).request('PATCH', `${PREFIX}/callback`, { body: { notify_url: url } });
    assert.deepEqual(set.body, { notify_url: url, mchid: sb.credentials.mchid });
  });
  after(async () => {
    await sb.close();
    await receiver.close();
  });

  it('ACCEPT_CARD: the documented envelope, a valid platform signature, AES-256-GCM with the APIv3 key', async () => {
    const user = await control(sb, 'POST', 'users', {});
    const given = await control(sb, 'POST', `cards/${sb.credentials.cardId}/codes`, {
      unionid: user.unionid,
      outer_str: 'scene-1',
    });
    const deadline = Date.now() + 5000;
    while (!receiver.received[0]) {
      if (Date.now() > deadline) throw new Error('no notification');
      await new Promise((r) => setTimeout(r, 10));
    }
    const delivery = receiver.received[0];
    const verdict = oracleFor(sb.credentials).verify(NotifyReceiver.headersOf(delivery), delivery.body);
    assert.deepEqual(verdict, { ok: true, serial: sb.credentials.publicKeyId });
    const envelope = JSON.parse(delivery.body);
    assert.deepEqual(Object.keys(envelope).sort(), [
      'create_time',
      'event_type',
      'id',
      'resource',
      'resource_type',
      'summary',
    ]);
    assert.equal(envelope.id, given.notification_id);
    assert.equal(envelope.resource_type, 'encrypt-resource');
    assert.ok([...envelope.summary].length <= 64);
    const payload = decryptResource(envelope.resource, sb.credentials.apiv3Key) as Record<string, unknown>;
    assert.deepEqual(
      [payload.event_type, payload.card_id, payload.code, payload.openid, payload.outer_str],
      ['NEW_ACTIVATE', sb.credentials.cardId, given.code, user.oa_openid, 'scene-1'],
    );
    assert.throws(() => decryptResource(envelope.resource, 'x'.repeat(32)), 'another key cannot open it');
  });
});
