import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, test } from 'node:test';
import Koa from 'koa';
import { OptionsError } from '../../src/errors.js';
import { hashToken, wechatLogin } from '../../src/login/index.js';
import { WECHAT_LOGIN_OPTIONS, type WechatLoginOptions } from '../../src/login/options.js';
import { memberCard } from '../../src/member-card.js';
import { DEFAULTS, type MemberCardOptions } from '../../src/options.js';
import type { Declaration } from '../../src/options/declare.js';
import { MEMBER_CARD_OPTIONS } from '../../src/options/member-card.js';
import { READMES, readmeTables, withTables } from '../../scripts/readme/readme.js';
import { call, listen } from '../support/http.js';
import { TestSandbox } from '../support/sandbox.js';

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

function rejects(mutate: (o: any) => void, pattern: RegExp, option?: string) {
  const options: any = valid();
  mutate(options);
  assert.throws(
    () => memberCard(options),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError, `an OptionsError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.equal(err.message.includes(merchant.privateKey.slice(40, 80)), false, 'never echoes a key');
      if (option !== undefined) {
        assert.equal(err.option, option);
        assert.equal(err.factory, 'memberCard()');
        assert.equal(err.message, `memberCard(): option "${option}" ${err.problem}`);
      }
      return true;
    },
  );
}

// Each declaration has exactly the keys of its options type, each default of the option's type:
// checked by tsc (`satisfies` in src/options/member-card.ts and src/login/options.ts). These lines
// fail tsc if that check ever stops catching a missing option, an extra one or a wrong default.
{
  const { cardId: _cardId, ...withoutCardId } = MEMBER_CARD_OPTIONS;
  // @ts-expect-error: an option of MemberCardOptions left undeclared
  void (withoutCardId satisfies Declaration<MemberCardOptions>);
  void ({
    ...WECHAT_LOGIN_OPTIONS,
    // @ts-expect-error: a declared option that WechatLoginOptions lacks
    rememberMe: { schema: MEMBER_CARD_OPTIONS.prefix.schema, doc: { en: '', zh: '' } },
  } satisfies Declaration<WechatLoginOptions>);
  void ({
    ...MEMBER_CARD_OPTIONS,
    // @ts-expect-error: a default of the wrong type
    prefix: { ...MEMBER_CARD_OPTIONS.prefix, default: 42 },
  } satisfies Declaration<MemberCardOptions>);
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
    rejects((o) => delete o.cardId, /option "cardId" is required/, 'cardId');
    rejects((o) => delete o.wechatpay, /option "wechatpay" is required/);
    rejects((o) => delete o.wechatpay.mchid, /option "wechatpay.mchid" is required/);
    rejects(
      (o) => (o.wechatpay.apiv3Key = 'short'),
      /option "wechatpay.apiv3Key" must be exactly 32 bytes/,
      'wechatpay.apiv3Key',
    );
    rejects((o) => (o.wechatpay.apiv3Key = '密'.repeat(32)), /wechatpay.apiv3Key/);
    rejects((o) => (o.cardId = 'has/slash'), /option "cardId"/);
    rejects((o) => (o.unknownThing = 1), /option "unknownThing" is not allowed/);
    rejects((o) => (o.store = 42), /option "store" must be a store URL/);
    rejects((o) => (o.store = 'mysql://x'), /mysql/);
    rejects(
      (o) => (o.selfService = { backgrounds: ['http://insecure.example/x.png'] }),
      /selfService.backgrounds/,
      'selfService.backgrounds.0',
    );
    rejects((o) => (o.wechatpay.baseURL = 'ftp://x'), /wechatpay.baseURL/);
    rejects((o) => (o.prefix = 'no-slash'), /option "prefix"/);
    rejects((o) => (o.identity = 'ctx.state.user'), /option "identity" must be of type function/);
  });

  test('keys are loaded at creation: a missing file, a non-key, a half-given pair', () => {
    rejects(
      (o) => (o.wechatpay.privateKey = join(dir, 'missing.pem')),
      /wechatpay.privateKey.*cannot read the key file .*ENOENT/,
      'wechatpay.privateKey',
    );
    rejects((o) => (o.wechatpay.privateKey = join(dir, 'junk.pem')), /wechatpay.privateKey.*not a PEM private key/);
    rejects(
      (o) => (o.wechatpay.publicKey = join(dir, 'junk.pem')),
      /wechatpay.publicKey.*not a PEM public key/,
      'wechatpay.publicKey',
    );
    rejects((o) => delete o.wechatpay.publicKey, /wechatpay/);
    rejects((o) => {
      delete o.wechatpay.publicKey;
      delete o.wechatpay.publicKeyId;
    }, /needs publicKeyId and publicKey, or certs/);
    rejects(
      (o) => (o.wechatpay.certs = { [o.wechatpay.serial]: join(dir, 'pub.pem') }),
      /not the merchant serial/,
      'wechatpay.certs',
    );
    rejects(
      (o) => (o.wechatpay.certs = { PUB_KEY_ID_2: join(dir, 'junk.pem') }),
      /not a PEM/,
      'wechatpay.certs.PUB_KEY_ID_2',
    );
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
      (err: unknown) =>
        err instanceof OptionsError &&
        err.factory === 'wechatLogin()' &&
        err.option === 'sessionTtl' &&
        /option "sessionTtl" must be greater than or equal to 60000 \(read as "sessionTtlMs": 1000\)/.test(err.message),
    );
  });

  test('cards.options holds no key material, however the keys were given', async () => {
    const apiv3Key = randomBytes(16).toString('hex');
    const pemBody = merchant.privateKey.split('\n')[5] as string;
    for (const privateKey of [merchant.privateKey, join(dir, 'key.pem'), createPrivateKey(merchant.privateKey)]) {
      const o = valid();
      o.wechatpay = { ...o.wechatpay, privateKey, apiv3Key, publicKey: platform.publicKey };
      const cards = memberCard(o);
      for (const text of [
        JSON.stringify(cards.options),
        inspect(cards.options, { depth: Infinity, showHidden: true }),
      ]) {
        assert.equal(text.includes(pemBody), false, 'no PEM');
        assert.equal(text.includes(platform.publicKey.split('\n')[3] as string), false, 'no platform key either');
        assert.equal(text.includes(apiv3Key), false, 'no APIv3 key');
        assert.equal(text.includes('key.pem'), false, 'not even the key path');
      }
      assert.deepEqual(Object.keys(cards.options.wechatpay).sort(), [
        'baseURL',
        'mchid',
        'platformSerials',
        'retries',
        'serial',
        'timeoutMs',
      ]);
      assert.deepEqual(cards.options.wechatpay.platformSerials, [o.wechatpay.publicKeyId]);
      await cards.close();
    }
  });

  test('defaults come from the declaration: cards.options and DEFAULTS agree, old DEFAULTS names too', async () => {
    const cards = memberCard(valid());
    const { wechatpay, openCard, cache, operations, selfService, prefix, bodyLimit } = cards.options;
    assert.deepEqual(
      { baseURL: wechatpay.baseURL, timeoutMs: wechatpay.timeoutMs, retries: wechatpay.retries },
      {
        ...DEFAULTS.wechatpay,
      },
    );
    assert.deepEqual(
      { openCard, cache, operations, selfService, prefix, bodyLimit },
      {
        openCard: DEFAULTS.openCard,
        cache: DEFAULTS.cache,
        operations: DEFAULTS.operations,
        selfService: DEFAULTS.selfService,
        prefix: DEFAULTS.prefix,
        bodyLimit: DEFAULTS.bodyLimit,
      },
    );
    assert.equal(cards.options.identity, DEFAULTS.identity);
    assert.equal(cards.options.log, DEFAULTS.log);
    await cards.close();
    assert.deepEqual(
      [DEFAULTS.timeout, DEFAULTS.cacheTtl, DEFAULTS.outerStrTtl, DEFAULTS.openCardAppId, DEFAULTS.cacheMax],
      [
        DEFAULTS.wechatpay.timeoutMs,
        DEFAULTS.cache.ttlMs,
        DEFAULTS.openCard.outerStrTtlMs,
        DEFAULTS.openCard.appId,
        DEFAULTS.cache.max,
      ],
    );
  });

  test('durations are ms and named …Ms; the older names are aliases, and giving both is an error', async () => {
    const o = valid();
    const cards = memberCard({
      ...o,
      wechatpay: { ...o.wechatpay, timeout: 1234 },
      openCard: { outerStrTtl: 60_000 },
      cache: { ttl: 0, max: 5 },
    });
    assert.equal(cards.options.wechatpay.timeoutMs, 1234);
    assert.equal(cards.options.openCard.outerStrTtlMs, 60_000);
    assert.deepEqual(cards.options.cache, {
      ttlMs: 0,
      max: 5,
      coherentTtlMs: 60_000,
      staleWhileRevalidateMs: 60_000,
      maxStaleMs: 86_400_000,
    });
    assert.equal('timeout' in cards.options.wechatpay, false);
    assert.equal(o.wechatpay.timeout, undefined, "the caller's options are left as they were");
    await cards.close();

    rejects(
      (x) => (x.wechatpay = { ...x.wechatpay, timeout: 1000, timeoutMs: 2000 }),
      /option "wechatpay.timeout" is an older name of "wechatpay.timeoutMs", which is given too/,
      'wechatpay.timeout',
    );
    rejects((x) => (x.cache = { ttl: 1, ttlMs: 1 }), /"cache.ttl".*"cache.ttlMs"/, 'cache.ttl');
    rejects((x) => (x.cache = { ttl: -1 }), /option "cache.ttl" must be greater than or equal to 0$/, 'cache.ttl');
    assert.throws(
      () => wechatLogin({ appid: 'wx1', secret: 's', store: 'memory:', sessionTtl: 3600, sessionTtlMs: 3_600_000 }),
      (err: unknown) =>
        err instanceof OptionsError && err.option === 'sessionTtl' && /"sessionTtlMs"/.test(err.message),
    );
  });

  test('wechatLogin(): sessionTtl (the older name) is seconds, sessionTtlMs is ms; expires_in is seconds', async () => {
    const sandbox = await TestSandbox.start();
    const c = sandbox.credentials;
    try {
      for (const ttl of [{ sessionTtl: 3600 }, { sessionTtlMs: 7_200_000 }]) {
        const login = wechatLogin({
          appid: c.miniProgramAppid,
          secret: c.miniProgramSecret,
          baseURL: c.baseURL,
          store: 'memory:',
          log: () => {},
          ...ttl,
        });
        const server = await listen(new Koa().use(login.routes()).callback());
        try {
          const code = await sandbox.loginCode(await sandbox.newUser());
          const before = Date.now();
          const { body } = await call('POST', `${server.url}/login`, { body: { code } });
          const seconds = 'sessionTtl' in ttl ? 3600 : 7200;
          assert.equal(body.expires_in, seconds);
          const session = await login.store.getSession(hashToken(body.token));
          assert.ok(session);
          assert.ok(
            Math.abs(session.expiresAt - (before + seconds * 1000)) < 5000,
            'the store holds the same lifetime',
          );
        } finally {
          await server.close();
          await login.close();
        }
      }
    } finally {
      await sandbox.close();
    }
  });

  test('the README tables (both languages) are made from the declarations and are up to date', () => {
    for (const [lang, file] of Object.entries(READMES)) {
      const text = readFileSync(file, 'utf8');
      assert.equal(
        withTables(text, readmeTables(lang as keyof typeof READMES)),
        text,
        `${file} is stale: run node --import tsx scripts/options-docs.mjs`,
      );
      for (const name of Object.keys(readmeTables('en')))
        assert.match(text, new RegExp(`<!-- options:${name} -->\\n\\| `));
    }
    assert.match(
      readFileSync('README.md', 'utf8'),
      /\| `wechatpay.timeout` \| {2}\| deprecated: older name of `wechatpay.timeoutMs` \|/,
    );
  });
});
