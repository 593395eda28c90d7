// WeChat Pay's move from platform certificates to the public key (doc/v3/merchant/4012154180):
// our client names its key in Wechatpay-Serial on every request, so answers come signed by the
// key it trusts; a merchant with the public key alone keeps working in a migrating sandbox; a
// merchant given both verifies notifications signed by either during the gray release; serve
// takes both sets of variables.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import type { LogFields } from '../../src/log.js';
import { resolveOptions, type WechatpayOptions } from '../../src/options.js';
import { selfSignedCertificate } from '../../src/sandbox/certificate.js';
import { serveEnvironment, startSandbox, wechatpayOptions, type Sandbox } from '../../src/sandbox/index.js';
import { startServer } from '../../src/server/serve.js';
import { HostKoa } from '../support/koa.js';

async function control(sb: Sandbox, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(new URL(`sandbox/${path}`, sb.url), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`sandbox ${method} ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

async function giveCard(sb: Sandbox, extra: Record<string, unknown> = {}) {
  const user = await control(sb, 'POST', 'users', {});
  const card = await control(sb, 'POST', `cards/${sb.credentials.cardId}/codes`, { unionid: user.unionid, ...extra });
  return { user, code: String(card.code), notificationId: String(card.notification_id) };
}

async function requests(sb: Sandbox): Promise<Array<Record<string, unknown>>> {
  return ((await control(sb, 'GET', 'requests')) as { data: Array<Record<string, unknown>> }).data;
}

type Keys = 'both' | 'publicKey' | 'certificate';

/** memberCard() for this sandbox, trusting the platform key(s) named. */
function cardsFor(sb: Sandbox, keys: Keys, logs: LogFields[] = []): MemberCard {
  const all = wechatpayOptions(sb.credentials);
  const { publicKeyId, publicKey, certs, ...rest } = all;
  const wechatpay = {
    ...rest,
    ...(keys !== 'certificate' ? { publicKeyId, publicKey } : {}),
    ...(keys !== 'publicKey' ? { certs } : {}),
    timeoutMs: 1500,
    retries: 1,
  };
  return memberCard({
    cardId: sb.credentials.cardId,
    appid: sb.credentials.appid,
    wechatpay,
    store: 'memory:',
    cache: { ttlMs: 0 },
    log: (_level, message, fields) => logs.push({ message, ...fields }),
  });
}

describe('conformance: a migrating WeChat Pay (both platform keys live)', () => {
  let sb: Sandbox;
  before(async () => {
    sb = await startSandbox({ platformMode: 'migrating', retryFactor: 0.001 });
  });
  after(() => sb.close());

  for (const keys of ['both', 'publicKey', 'certificate'] as const) {
    const who = keys === 'both' ? 'both keys' : `the ${keys} alone`;
    it(`a merchant configured with ${who} works; each request names the key it verifies with`, async () => {
      const cards = cardsFor(sb, keys);
      const { code } = await giveCard(sb, { balance: 100 });
      await control(sb, 'DELETE', 'requests');
      const card = await cards.client.getCard(sb.credentials.cardId, code);
      assert.equal(card.balance, 100);
      const op = await cards.operations.adjustBalance({ code, amount: 5, requestId: `m-${keys}` });
      assert.equal(op.state, 'applied');
      const expected = keys === 'certificate' ? sb.credentials.platformCertificateSerial : sb.credentials.publicKeyId;
      const log = await requests(sb);
      assert.ok(log.length >= 3, 'GET, GET, PATCH');
      for (const line of log) {
        assert.equal(line.request_serial, expected, 'every request names the key we verify with');
        assert.equal(line.answer_serial, expected, 'and the answer came signed by it');
      }
      await cards.close();
    });
  }

  it('a merchant with the public key alone fails (502) when answers come signed by the certificate', async () => {
    const logs: LogFields[] = [];
    const cards = cardsFor(sb, 'publicKey', logs);
    const { code } = await giveCard(sb);
    await control(sb, 'PUT', 'behaviour', { signWith: 'certificate' });
    try {
      await assert.rejects(
        cards.client.getCard(sb.credentials.cardId, code),
        (err: { code?: string; status?: number }) => {
          assert.deepEqual([err.code, err.status], ['UPSTREAM_ERROR', 502]);
          return true;
        },
      );
      assert.ok(logs.some((l) => l.code === 'EV3_RES_HEADER_PLATFORM_SERIAL'));
    } finally {
      await control(sb, 'PUT', 'behaviour', {});
      await cards.close();
    }
  });

  it('notifications signed by either key (gray release) verify and bind when both are trusted', async () => {
    const cards = cardsFor(sb, 'both');
    const app = new HostKoa();
    app.silent = true;
    app.use(cards.routes());
    const server: Server = await new Promise((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s));
    });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/member-card/notify`;
      await cards.client.setNotifyUrl(url);
      // In migrating mode deliveries alternate between the two keys: each must verify at once.
      const given = [await giveCard(sb), await giveCard(sb), await giveCard(sb)];
      for (const g of given) {
        const deadline = Date.now() + 5000;
        for (;;) {
          const binding = await cards.store.getBinding(sb.credentials.cardId, g.code);
          if (binding?.status === 'active') break;
          if (Date.now() > deadline) throw new Error(`not bound: ${g.code}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const notes = (await control(sb, 'GET', 'notifications')) as {
        data: Array<{ id: string; attempts: number; last_serial: string }>;
      };
      const ours = given.map((g) => notes.data.find((n) => n.id === g.notificationId));
      assert.ok(
        ours.every((n) => n?.attempts === 1),
        'each one accepted at its first delivery',
      );
      assert.deepEqual(
        new Set(ours.map((n) => n?.last_serial)),
        new Set([sb.credentials.publicKeyId, sb.credentials.platformCertificateSerial]),
        'signed by both keys between them',
      );
    } finally {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      await cards.close();
    }
  });
});

describe('conformance: which serial our requests name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'membercard-serial-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A self-signed platform certificate valid from `from`, written to a file. */
  function certificate(serialHex: string, from: number): string {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = selfSignedCertificate({
      ...pair,
      serialHex,
      commonName: 'test platform',
      notBefore: new Date(from),
      notAfter: new Date(from + 365 * 86_400_000),
    });
    const file = join(dir, `${serialHex}.pem`);
    writeFileSync(file, pem);
    return file;
  }

  it('the public key id when there is one; else the newest certificate, whatever the order given', () => {
    const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const old = certificate('1'.repeat(40), Date.now() - 100 * 86_400_000);
    const fresh = certificate('2'.repeat(40), Date.now() - 86_400_000);
    const base = { mchid: '1900000001', serial: 'A'.repeat(40), privateKey: merchant, apiv3Key: 'k'.repeat(32) };
    const serialOf = (platform: Partial<WechatpayOptions>) =>
      resolveOptions({ cardId: 'pMC1', appid: 'wx1', wechatpay: { ...base, ...platform } }).keys.requestSerial;
    assert.equal(serialOf({ certs: { ['2'.repeat(40)]: fresh, ['1'.repeat(40)]: old } }), '2'.repeat(40));
    assert.equal(serialOf({ certs: { ['1'.repeat(40)]: old, ['2'.repeat(40)]: fresh } }), '2'.repeat(40));
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    assert.equal(
      serialOf({ publicKeyId: 'PUB_KEY_ID_01', publicKey, certs: { ['2'.repeat(40)]: fresh } }),
      'PUB_KEY_ID_01',
    );
    assert.equal(serialOf({ certs: { ['1'.repeat(40)]: old, PUB_KEY_ID_02: publicKey } }), 'PUB_KEY_ID_02');
  });
});

describe('conformance: serve trusts the public key and platform certificates together', () => {
  let sb: Sandbox;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'membercard-serve-migrating-'));
    sb = await startSandbox({ stateDir: join(dir, 'wechat'), platformMode: 'migrating', retryFactor: 0.001 });
  });
  after(async () => {
    await sb.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('both pairs set: starts, names the public key, and binds notifications signed by either key', async () => {
    const env: Record<string, string> = {
      ...serveEnvironment(sb.credentials),
      MEMBERCARD_STORE: 'memory:',
      PORT: '0',
      HOST: '127.0.0.1',
    };
    assert.ok(env.WECHATPAY_PUBLIC_KEY_ID && env.WECHATPAY_PLATFORM_CERT_SERIAL, 'the sandbox hands out both');
    const probe = await startServer(env, () => {});
    const notifyUrl = `${probe.url}/api/member-card/notify`;
    await probe.close();
    const running = await startServer(
      { ...env, PORT: new URL(probe.url).port, MEMBERCARD_NOTIFY_URL: notifyUrl },
      () => {},
    );
    try {
      assert.deepEqual(
        [...running.cards.options.wechatpay.platformSerials].sort(),
        [sb.credentials.platformCertificateSerial, sb.credentials.publicKeyId].sort(),
      );
      const given = [await giveCard(sb), await giveCard(sb)];
      for (const g of given) {
        const deadline = Date.now() + 5000;
        while ((await running.cards.store.getBinding(sb.credentials.cardId, g.code))?.status !== 'active') {
          if (Date.now() > deadline) throw new Error(`not bound: ${g.code}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      const notes = (await control(sb, 'GET', 'notifications')) as { data: Array<{ id: string; last_serial: string }> };
      assert.deepEqual(
        new Set(given.map((g) => notes.data.find((n) => n.id === g.notificationId)?.last_serial)),
        new Set([sb.credentials.publicKeyId, sb.credentials.platformCertificateSerial]),
        'one signed by each key',
      );
      const log = await requests(sb);
      assert.ok(log.every((l) => l.request_serial === sb.credentials.publicKeyId));
    } finally {
      await running.close();
    }
  });

  it('several certificates as comma-separated lists of equal length; unequal lists are refused', async () => {
    const env: Record<string, string> = {
      ...serveEnvironment(sb.credentials),
      MEMBERCARD_STORE: 'memory:',
      PORT: '0',
      HOST: '127.0.0.1',
    };
    const { WECHATPAY_PUBLIC_KEY_ID: _id, WECHATPAY_PUBLIC_KEY: _key, ...certOnly } = env;
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const older = join(dir, 'older.pem');
    writeFileSync(
      older,
      selfSignedCertificate({
        ...other,
        serialHex: '3'.repeat(40),
        commonName: 'older',
        notBefore: new Date(Date.now() - 400 * 86_400_000),
        notAfter: new Date(Date.now() + 86_400_000),
      }),
    );
    const two = {
      ...certOnly,
      WECHATPAY_PLATFORM_CERT_SERIAL: `${'3'.repeat(40)}, ${sb.credentials.platformCertificateSerial}`,
      WECHATPAY_PLATFORM_CERT: `${older},${sb.credentials.platformCertificate}`,
    };
    const running = await startServer(two, () => {});
    try {
      assert.equal(running.cards.options.wechatpay.platformSerials.length, 2);
      const { code } = await giveCard(sb);
      await control(sb, 'DELETE', 'requests');
      assert.equal((await running.cards.client.getCard(sb.credentials.cardId, code)).code, code);
      const [line] = await requests(sb);
      assert.equal(line?.request_serial, sb.credentials.platformCertificateSerial, 'the newest certificate');
    } finally {
      await running.close();
    }
    await assert.rejects(
      startServer({ ...two, WECHATPAY_PLATFORM_CERT: older }, () => {}),
      /WECHATPAY_PLATFORM_CERT_SERIAL and WECHATPAY_PLATFORM_CERT must list as many entries/,
    );
    await assert.rejects(
      startServer({ ...env, WECHATPAY_PUBLIC_KEY: '' }, () => {}),
      /WECHATPAY_PUBLIC_KEY is not set/,
    );
  });
});
