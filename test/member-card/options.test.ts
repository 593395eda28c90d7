import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { OptionsError } from '../../src/errors.js';
import { wechatLogin } from '../../src/login/index.js';
import { memberCard } from '../../src/member-card.js';
import type { MemberCardOptions } from '../../src/options.js';

const dir = mkdtempSync(join(tmpdir(), 'membercard-options-'));
const pair = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
const merchant = pair();
const platform = pair();
writeFileSync(join(dir, 'key.pem'), merchant.privateKey);
writeFileSync(join(dir, 'pub.pem'), platform.publicKey);
writeFileSync(join(dir, 'junk.pem'), 'not a key');

const valid = (): MemberCardOptions => ({
  cardId: 'pCard0000000000000000000001',
  appid: 'wx0000000000000001',
  wechatpay: {
    mchid: '1900000109',
    serial: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01',
    privateKey: join(dir, 'key.pem'),
    publicKeyId: 'PUB_KEY_ID_0100000000000000000000000000000001',
    publicKey: join(dir, 'pub.pem'),
    apiv3Key: 'k'.repeat(32),
  },
  store: 'memory:',
});

function rejects(mutate: (o: any) => void, pattern: RegExp) {
  const options: any = valid();
  mutate(options);
  assert.throws(
    () => memberCard(options),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError, `an OptionsError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.equal(err.message.includes(merchant.privateKey.slice(40, 80)), false, 'never echoes a key');
      return true;
    },
  );
}

describe('memberCard() options are validated once, at creation, naming the option', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('valid options (paths, PEM text, file:// URL) create a module', async () => {
    const cards = memberCard(valid());
    assert.equal(typeof cards.routes(), 'function');
    await cards.close();
    const inline = valid();
    inline.wechatpay.privateKey = merchant.privateKey;
    inline.wechatpay.publicKey = `file://${join(dir, 'pub.pem')}`;
    await memberCard(inline).close();
  });

  test('missing and malformed options', () => {
    rejects((o) => delete o.cardId, /option "cardId" is required/);
    rejects((o) => delete o.wechatpay, /option "wechatpay" is required/);
    rejects((o) => delete o.wechatpay.mchid, /option "wechatpay.mchid" is required/);
    rejects((o) => (o.wechatpay.apiv3Key = 'short'), /option "wechatpay.apiv3Key" must be exactly 32 bytes/);
    rejects((o) => (o.wechatpay.apiv3Key = '密'.repeat(32)), /wechatpay.apiv3Key/);
    rejects((o) => (o.cardId = 'has/slash'), /option "cardId"/);
    rejects((o) => (o.unknownThing = 1), /option "unknownThing" is not allowed/);
    rejects((o) => (o.store = 42), /option "store" must be a store URL/);
    rejects((o) => (o.store = 'mysql://x'), /mysql/);
    rejects((o) => (o.selfService = { backgrounds: ['http://insecure.example/x.png'] }), /selfService.backgrounds/);
    rejects((o) => (o.wechatpay.baseURL = 'ftp://x'), /wechatpay.baseURL/);
    rejects((o) => (o.prefix = 'no-slash'), /option "prefix"/);
    rejects((o) => (o.identity = 'ctx.state.user'), /option "identity" must be of type function/);
  });

  test('keys are loaded at creation: a missing file, a non-key, a half-given pair', () => {
    rejects(
      (o) => (o.wechatpay.privateKey = join(dir, 'missing.pem')),
      /wechatpay.privateKey.*cannot read the key file .*ENOENT/,
    );
    rejects((o) => (o.wechatpay.privateKey = join(dir, 'junk.pem')), /wechatpay.privateKey.*not a PEM private key/);
    rejects((o) => (o.wechatpay.publicKey = join(dir, 'junk.pem')), /wechatpay.publicKey.*not a PEM public key/);
    rejects((o) => delete o.wechatpay.publicKey, /wechatpay/);
    rejects((o) => {
      delete o.wechatpay.publicKey;
      delete o.wechatpay.publicKeyId;
    }, /needs publicKeyId and publicKey, or certs/);
    rejects((o) => (o.wechatpay.certs = { [o.wechatpay.serial]: join(dir, 'pub.pem') }), /not the merchant serial/);
  });

  test('several platform keys may be trusted at once (rotation)', async () => {
    const o = valid();
    o.wechatpay.certs = { PUB_KEY_ID_0100000000000000000000000000000002: pair().publicKey };
    const cards = memberCard(o);
    await cards.close();
  });

  test('wechatLogin() validates too', () => {
    assert.throws(
      () => wechatLogin({ appid: 'wx1', secret: '', store: 'memory:' }),
      /wechatLogin\(\): option "secret"/,
    );
    assert.throws(
      () => wechatLogin({ appid: 'wx1', secret: 's', store: 'memory:', sessionTtl: 1 }),
      /option "sessionTtl"/,
    );
  });
});
