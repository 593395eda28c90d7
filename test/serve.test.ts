// `serve` in real mode: any WeChat Pay at WECHATPAY_BASE_URL, configured by the environment.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OptionsError } from '../src/errors.js';
import { envNameOf, renameOptionError } from '../src/server/config.js';
import { startServer } from '../src/server/serve.js';
import { call } from './support/http.js';
import { waitFor } from './support/poll.js';
import { TestSandbox } from './support/sandbox.js';
import { serveEnv } from './support/serve.js';

describe('serve with real settings pointed at another WeChat Pay', () => {
  let sandbox: TestSandbox;
  /** A file that is not there. */
  let nope: string;
  before(async () => {
    sandbox = await TestSandbox.start({ platformMode: 'certificate' });
    nope = join(dirname(sandbox.credentials.privateKey), 'nope.pem');
  });
  after(() => sandbox.close());

  const env = (): Record<string, string> => ({
    ...serveEnv(sandbox.credentials, 'memory:'),
    MEMBERCARD_CACHE_TTL: '0',
  });

  test('a platform certificate instead of a public key; notify URL registered; login and card work', async () => {
    const base = env();
    const probe = await startServer(base, () => {});
    const notifyUrl = `${probe.url}/api/member-card/notify`;
    // What a merchant does once: tell WeChat Pay where notifications go (MEMBERCARD_NOTIFY_URL).
    await probe.close();
    const running = await startServer(
      { ...base, PORT: new URL(probe.url).port, MEMBERCARD_NOTIFY_URL: notifyUrl },
      () => {},
    );
    try {
      assert.equal(running.sandbox, undefined, 'no embedded sandbox in real mode');
      assert.equal((await running.cards.client.getNotifyUrl()).notify_url, notifyUrl);
      const user = await sandbox.newUser();
      const { code } = await sandbox.giveCard(user, { balance: 5 });
      const token = await sandbox.login(`${running.url}/api/login`, user);
      // Until the ACCEPT_CARD notification arrived.
      const reply = await waitFor('the card to be readable', 5000, async () => {
        const mine = await call('GET', `${running.url}/api/member-card`, { token });
        return mine.status === 200 && mine;
      });
      assert.equal(reply.status, 200);
      assert.equal(reply.body.card.code, code);
    } finally {
      await running.close();
    }
  });

  test('missing and bad settings stop it with a message naming the variable', async () => {
    const noKey = env();
    delete noKey.WECHATPAY_PLATFORM_CERT;
    await assert.rejects(
      startServer(noKey, () => {}),
      (err: Error) => err instanceof OptionsError && /WECHATPAY_PLATFORM_CERT is not set/.test(err.message),
    );
    const noPlatform = env();
    delete noPlatform.WECHATPAY_PLATFORM_CERT;
    delete noPlatform.WECHATPAY_PLATFORM_CERT_SERIAL;
    await assert.rejects(
      startServer(noPlatform, () => {}),
      /WECHATPAY_PUBLIC_KEY_ID is not set/,
    );
    await assert.rejects(
      startServer({ ...env(), WECHATPAY_APIV3_KEY: 'short' }, () => {}),
      /^OptionsError: WECHATPAY_APIV3_KEY: must be exactly 32 bytes$/,
    );
    await assert.rejects(
      startServer({ ...env(), WECHATPAY_PRIVATE_KEY: nope }, () => {}),
      /^OptionsError: WECHATPAY_PRIVATE_KEY: cannot read the key file .*ENOENT/,
    );
    await assert.rejects(
      startServer({ ...env(), MEMBERCARD_STORE: 'mysql://x' }, () => {}),
      /^OptionsError: MEMBERCARD_STORE: unsupported scheme "mysql:"/,
    );
    // A SQLite file under a path that cannot be a folder (a file is in the way): at once, named.
    const dir = dirname(nope);
    writeFileSync(join(dir, 'a-file'), '');
    await assert.rejects(
      startServer({ ...env(), MEMBERCARD_STORE: `sqlite:${join(dir, 'a-file', 'membercard.db')}` }, () => {}),
      /^OptionsError: MEMBERCARD_STORE: cannot open or create the SQLite file .*a-file\/membercard\.db \(E[A-Z]+\)$/,
    );
    await assert.rejects(
      startServer({ ...env(), MEMBERCARD_CACHE_TTL: '-5' }, () => {}),
      /^OptionsError: MEMBERCARD_CACHE_TTL: must be greater than or equal to 0/,
    );
    for (const [name, value] of [
      ['MEMBERCARD_CACHE_MAX_STALE', '-1'],
      ['MEMBERCARD_CACHE_STALE_WHILE_REVALIDATE', 'soon'],
      ['MEMBERCARD_CACHE_COHERENT_TTL', '-1'],
      ['MEMBERCARD_UPSTREAM_PER_SECOND', 'many'],
      ['MEMBERCARD_UPSTREAM_BURST', '0'],
    ]) {
      await assert.rejects(
        startServer({ ...env(), [name as string]: value }, () => {}),
        new RegExp(`^OptionsError: ${name}: must be`),
      );
    }
    // …and good values reach memberCard()'s options.
    const tuned = await startServer(
      {
        ...env(),
        MEMBERCARD_CACHE_MAX_STALE: '60000',
        MEMBERCARD_CACHE_STALE_WHILE_REVALIDATE: '5000',
        MEMBERCARD_CACHE_COHERENT_TTL: '30000',
        MEMBERCARD_UPSTREAM_PER_SECOND: '5',
        MEMBERCARD_UPSTREAM_BURST: '7',
      },
      () => {},
    );
    try {
      assert.equal(tuned.cards.options.cache.maxStaleMs, 60_000);
      assert.equal(tuned.cards.options.cache.staleWhileRevalidateMs, 5000);
      assert.equal(tuned.cards.options.cache.coherentTtlMs, 30_000);
      assert.deepEqual(tuned.cards.options.upstream, { perSecond: 5, burst: 7 });
    } finally {
      await tuned.close();
    }
    await assert.rejects(
      startServer({ ...env(), PORT: 'eighty' }, () => {}),
      /PORT must be a port number/,
    );
    // The same option name in two factories: wechatLogin()'s appid is the mini-program's.
    await assert.rejects(
      startServer({ ...env(), WECHAT_MINIPROGRAM_APPID: 'wx/bad' }, () => {}),
      /^OptionsError: WECHAT_MINIPROGRAM_APPID: with value "wx\/bad" fails to match the letters, digits/,
    );
    await assert.rejects(
      startServer({ ...env(), MEMBERCARD_APPID: 'wx/bad' }, () => {}),
      /^OptionsError: MEMBERCARD_APPID: /,
    );
    // An error deeper than the option a variable feeds (wechatpay.certs.<serial>) still names it.
    await assert.rejects(
      startServer({ ...env(), WECHATPAY_PLATFORM_CERT: nope }, () => {}),
      /^OptionsError: WECHATPAY_PLATFORM_CERT: cannot read the key file .*ENOENT/,
    );
  });

  test('errors are renamed from their option field, never from their message text', () => {
    const card = new OptionsError('must be exactly 32 bytes', {
      factory: 'memberCard()',
      option: 'wechatpay.apiv3Key',
    });
    assert.equal(String(renameOptionError(card)), 'OptionsError: WECHATPAY_APIV3_KEY: must be exactly 32 bytes');
    const wordsOnly = new OptionsError('memberCard(): option "wechatpay.apiv3Key" must be exactly 32 bytes');
    assert.equal(renameOptionError(wordsOnly), wordsOnly, 'no option field: left as it is');
    const notFed = new OptionsError('must be of type function', { factory: 'memberCard()', option: 'identity' });
    assert.equal(renameOptionError(notFed), notFed, 'an option serve does not set: left as it is');
    assert.equal(envNameOf('wechatLogin()', 'appid'), 'WECHAT_MINIPROGRAM_APPID');
    assert.equal(envNameOf('memberCard()', 'appid'), 'MEMBERCARD_APPID');
    assert.equal(envNameOf('memberCard()', 'selfService.backgrounds.2'), 'MEMBERCARD_BACKGROUNDS');
    assert.equal(envNameOf('memberCard()', 'selfService'), undefined);
  });
});

describe('serve holds no connection for a slow or greedy client', () => {
  let state: string;
  before(() => {
    state = mkdtempSync(join(tmpdir(), 'membercard-serve-limits-'));
  });
  after(() => rmSync(state, { recursive: true, force: true }));
  /** Opens a TCP connection and resolves with what the server wrote and when it closed, in ms. */
  function slowClient(url: string, send: string): Promise<{ closedAfterMs: number; answer: string }> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(Number(u.port), u.hostname, () => socket.write(send));
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      const closed = () => resolve({ closedAfterMs: Date.now() - started, answer });
      socket.on('close', closed);
      // A connection refused over the limit may arrive as a reset: closed all the same.
      socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? closed() : reject(err)));
      setTimeout(() => reject(new Error('the server kept the connection open for 5 s')), 5000).unref();
    });
  }

  test('headers sent too slowly are cut off with 408 after HTTP_HEADERS_TIMEOUT_MS', async () => {
    const running = await startServer(
      {
        MEMBERCARD_STORE: 'memory:',
        PORT: '0',
        SANDBOX_PORT: '0',
        SANDBOX_STATE: state,
        HTTP_HEADERS_TIMEOUT_MS: '300',
      },
      () => {},
    );
    try {
      const slow = await slowClient(running.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n');
      assert.match(slow.answer, /^HTTP\/1\.1 408/);
      assert.ok(slow.closedAfterMs < 2500, `closed after ${slow.closedAfterMs} ms`);
      assert.equal((await fetch(`${running.url}/healthz`)).status, 200, 'others are still served');
    } finally {
      await running.close();
    }
  });

  test('beyond HTTP_MAX_CONNECTIONS a new connection is closed at once; bad limits name the variable', async () => {
    const running = await startServer(
      { MEMBERCARD_STORE: 'memory:', PORT: '0', SANDBOX_PORT: '0', SANDBOX_STATE: state, HTTP_MAX_CONNECTIONS: '2' },
      () => {},
    );
    const u = new URL(running.url);
    const held = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect(Number(u.port), u.hostname, () => resolve(s));
          }),
      ),
    );
    try {
      const third = await slowClient(running.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal(third.answer, '', 'refused without an answer');
      assert.ok(third.closedAfterMs < 1000, `closed after ${third.closedAfterMs} ms`);
    } finally {
      for (const s of held) s.destroy();
      await running.close();
    }
    await assert.rejects(
      startServer({ MEMBERCARD_STORE: 'memory:', PORT: '0', HTTP_REQUEST_TIMEOUT_MS: 'soon' }, () => {}),
      /^OptionsError: HTTP_REQUEST_TIMEOUT_MS must be a whole number/,
    );
  });
});
