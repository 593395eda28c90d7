// Mini-program login, the request log and the control API's own rules.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { request } from 'node:http';
import { isLoopback, isLoopbackHost } from '../../src/sandbox/index.js';
import { TestSandbox, type RequestLine, type SandboxUser } from '../support/sandbox.js';
import { api } from './client.js';

describe('sandbox: jscode2session', () => {
  let sb: TestSandbox;
  let person: SandboxUser;
  const login = async (query: Record<string, string>): Promise<Record<string, unknown>> => {
    const c = sb.credentials;
    const params = new URLSearchParams({
      appid: c.miniProgramAppid,
      secret: c.miniProgramSecret,
      grant_type: 'authorization_code',
      ...query,
    });
    const res = await fetch(new URL(`sns/jscode2session?${params.toString()}`, sb.url));
    assert.equal(res.status, 200, 'WeChat answers 200 even for errors');
    return (await res.json()) as Record<string, unknown>;
  };
  const newCode = async (who: Record<string, string>): Promise<string> =>
    String((await sb.control('POST', 'login-codes', who)).js_code);

  before(async () => {
    sb = await TestSandbox.start();
    person = await sb.newUser();
  });
  after(() => sb.close());

  it('a code works once: the session, then 40163', async () => {
    const jsCode = await newCode({ unionid: person.unionid });
    const session = await login({ js_code: jsCode });
    assert.equal(session.openid, person.mp_openid);
    assert.equal(session.unionid, person.unionid);
    assert.ok(session.session_key);
    assert.notEqual(session.openid, person.oa_openid);
    assert.equal((await login({ js_code: jsCode })).errcode, 40163);
  });

  it('an unknown code is 40029; wrong appid 40013; wrong secret 40125', async () => {
    assert.equal((await login({ js_code: 'nope' })).errcode, 40029);
    const jsCode = await newCode({ mp_openid: person.mp_openid });
    assert.equal((await login({ js_code: jsCode, appid: sb.credentials.appid })).errcode, 40013);
    assert.equal((await login({ js_code: jsCode, secret: 'x'.repeat(32) })).errcode, 40125);
    assert.equal(
      (await login({ js_code: jsCode })).openid,
      person.mp_openid,
      'failed attempts did not use the code up',
    );
  });

  it('leaves the unionid out when the mini-program is not on the Open Platform', async () => {
    const hidden = await sb.newUser({ share_unionid: false });
    const session = await login({ js_code: await newCode({ unionid: hidden.unionid }) });
    assert.equal(session.openid, hidden.mp_openid);
    assert.equal('unionid' in session, false);
  });

  it('a /sns/ fault answers {errcode, errmsg}', async () => {
    await sb.fault({ status: 200, code: '45011', path: '/sns/', times: 1 });
    assert.equal((await login({ js_code: 'whatever' })).errcode, 45011);
    assert.equal((await login({ js_code: 'whatever' })).errcode, 40029);
  });
});

describe('sandbox: request log and control API', () => {
  let sb: TestSandbox;
  before(async () => {
    sb = await TestSandbox.start();
  });
  after(() => sb.close());

  it('logs every /v3/ and /sns/ request, with its status and signature validity; DELETE clears', async () => {
    await sb.control('DELETE', 'requests');
    const { code } = await sb.personWithCard();
    assert.deepEqual(await sb.requests(), [], 'control calls are not upstream requests');
    await api(sb.credentials).get('/cards/{card_id}/codes/{code}', { card_id: sb.credentials.cardId, code });
    await fetch(new URL('v3/marketing/membercard-open/callback', sb.url));
    await fetch(new URL('sns/jscode2session?appid=x&secret=s3cret', sb.url));
    const log = await sb.requests();
    assert.equal(log.length, 3);
    const [get, unsigned, sns] = log as [RequestLine, RequestLine, RequestLine];
    assert.equal(get.method, 'GET');
    assert.equal(get.path, `/v3/marketing/membercard-open/cards/${sb.credentials.cardId}/codes/${code}`);
    assert.equal(get.status, 200);
    assert.equal(get.signature_valid, true);
    assert.match(String(get.request_id), /^[0-9A-F]{32}$/);
    assert.equal(unsigned.status, 401);
    assert.equal(unsigned.signature_valid, false);
    assert.equal(sns.path, '/sns/jscode2session', 'the secret-bearing query is not logged');
    assert.ok(Number(sns.seq) > Number(get.seq));
    await sb.control('DELETE', 'requests');
    assert.deepEqual(await sb.requests(), []);
  });

  it('validates control bodies', async () => {
    assert.equal((await sb.controlReply('POST', 'users', { colour: 'red' })).status, 400);
    assert.equal((await sb.controlReply('POST', 'login-codes', {})).status, 400);
    assert.equal((await sb.controlReply('POST', 'login-codes', { unionid: 'nobody' })).status, 404);
    const person = (await sb.controlReply('POST', 'users', {})).body;
    const cards = `cards/${sb.credentials.cardId}/codes`;
    assert.equal(
      (await sb.controlReply('POST', cards, { unionid: person.unionid, level: '超级钻石会员' })).status,
      400,
    );
    assert.equal(
      (await sb.controlReply('POST', cards, { unionid: person.unionid, user_card_status: 'GONE' })).status,
      400,
    );
    assert.equal((await sb.controlReply('POST', 'cards/pMCother/codes', { unionid: person.unionid })).status, 404);
    assert.equal((await sb.controlReply('GET', 'nothing')).status, 404);
    const created = await sb.controlReply('POST', cards, {
      mp_openid: person.mp_openid,
      membership_number: 'M-1',
      bonus_value: 7,
    });
    assert.equal(created.status, 201);
    assert.match(String(created.body.code), /^\d{12,18}$/);
    const stored = (await sb.controlReply('GET', `${cards}/${String(created.body.code)}`)).body;
    assert.equal(stored.membership_number, 'M-1');
    assert.equal(stored.bonus_value, 7);
    assert.equal(stored.openid, person.oa_openid);
  });

  it('GET /sandbox/credentials returns what startSandbox returned', async () => {
    assert.deepEqual((await sb.controlReply('GET', 'credentials')).body, { ...sb.credentials });
  });

  it('isLoopback accepts only this machine', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['10.0.0.1', '192.168.1.2', '::ffff:10.1.1.1', 'fe80::1', '', undefined])
      assert.equal(isLoopback(a), false, String(a));
  });

  it('isLoopbackHost accepts only names of this machine', () => {
    for (const h of ['127.0.0.1:3100', 'localhost', 'LOCALHOST:80', '[::1]:3100', '127.0.0.2']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ['evil.example:3100', 'localhost.evil.example', '10.0.0.1:3100', '[fe80::1]:80', '', undefined]) {
      assert.equal(isLoopbackHost(h), false, String(h));
    }
  });

  /** A raw request, so the test chooses every header (fetch fixes Host and may add others). */
  const raw = (headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const url = new URL('sandbox/users', sb.url);
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it('refuses what a web page could send: a foreign Host (DNS rebinding), an Origin, a non-JSON body', async () => {
    const host = new URL(sb.url).host;
    const json = { 'content-type': 'application/json' };
    const refused = [
      await raw({ ...json, host: `rebind.example:${new URL(sb.url).port}` }, '{}'),
      await raw({ ...json, host, origin: 'https://evil.example' }, '{}'),
      await raw({ ...json, host, origin: 'null' }, '{}'),
      await raw({ host, 'content-type': 'text/plain' }, '{}'),
      await raw({ host, 'content-type': 'application/x-www-form-urlencoded' }, 'a=1'),
    ];
    for (const answer of refused) {
      assert.equal(answer.status, 403, JSON.stringify(answer.body));
      assert.equal(answer.body.code, 'FORBIDDEN');
    }
    // The same request from a local program (loopback Host, JSON, no Origin) works.
    const made = await raw({ ...json, host }, '{}');
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.ok(made.body.unionid);
  });

  it('refuses a control request from a non-loopback address with 403', async (t) => {
    const address = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!address) {
      t.skip('no non-loopback IPv4 interface on this machine');
      return;
    }
    const wide = await TestSandbox.start({ host: '0.0.0.0' });
    try {
      const port = new URL(wide.url).port;
      const res = await fetch(`http://${address}:${port}/sandbox/users`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 403);
      assert.equal(((await res.json()) as { code: string }).code, 'FORBIDDEN');
      // The signed API itself is not loopback-only.
      const ok = await api({ ...wide.credentials, baseURL: `http://${address}:${port}/` }).get('/callback');
      assert.equal(ok.status, 200);
    } finally {
      await wide.close();
    }
  });
});
