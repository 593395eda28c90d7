// Issue 15, metrics: GET /metrics of a real `serve` after real traffic against the sandbox (a card
// read, a notification, a merchant operation, a rate-limit refusal, an upstream 5xx), who may read
// it (the loopback interface, or the admin token; never X-Forwarded-For), and what never appears in it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { LogFields } from '../../src/log.js';
import { startServer, type RunningServer } from '../../src/server/serve.js';
import { call } from '../support/http.js';
import { sample } from '../support/metrics.js';
import { TestSandbox, type SandboxUser } from '../support/sandbox.js';
import { serveEnv } from '../support/serve.js';

/** A pino-shaped logger that keeps every call: level, fields, message, and whether `this` was the logger. */
function recordingLogger() {
  const calls: { level: string; fields: LogFields; message: string; bound: boolean }[] = [];
  const logger = {
    info(this: unknown, fields: LogFields, message: string) {
      calls.push({ level: 'info', fields, message, bound: this === logger });
    },
    warn(this: unknown, fields: LogFields, message: string) {
      calls.push({ level: 'warn', fields, message, bound: this === logger });
    },
    error(this: unknown, fields: LogFields, message: string) {
      calls.push({ level: 'error', fields, message, bound: this === logger });
    },
  };
  return { logger, calls };
}

/** A GET from another address of this machine: the connection's source is not loopback. */
function getFrom(address: string, port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: address, port, path, headers, localAddress: address, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An IPv4 address of this machine that is not loopback, if it has one. */
function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('GET /metrics of serve, after real traffic', () => {
  const adminToken = randomBytes(32).toString('hex');
  const { logger, calls } = recordingLogger();
  let sandbox: TestSandbox;
  let running: RunningServer;
  let user: SandboxUser;
  let code = '';
  let sessionToken = '';
  let refusals = 0;
  let loginRefusals = 0;
  let metrics = '';

  before(async () => {
    sandbox = await TestSandbox.start();
    running = await startServer(
      {
        ...serveEnv(sandbox.credentials, 'memory:'),
        HOST: '0.0.0.0',
        TRUST_PROXY: '1',
        MEMBERCARD_ADMIN_TOKEN: adminToken,
        MEMBERCARD_CACHE_TTL: '60000',
        // Few logins per client address, so the test can use them up.
        LOGIN_CLIENT_BURST: '3',
        LOGIN_CLIENT_PER_MINUTE: '1',
      },
      logger,
    );
    const api = `${running.url}/api/member-card`;
    await running.cards.client.setNotifyUrl(`${api}/notify`);

    // A notification: the card given to the user is bound by its ACCEPT_CARD.
    user = await sandbox.newUser();
    const given = await sandbox.giveCard(user, { balance: 500 });
    code = given.code;
    await sandbox.waitDelivered(given.notification_id);
    sessionToken = await sandbox.login(`${running.url}/api/login`, user);

    // An upstream 5xx on the card read (every attempt: 1 + 2 retries), then two good reads (a miss, a hit).
    const cardPath = `/v3/marketing/membercard-open/cards/${sandbox.credentials.cardId}/codes/${code}`;
    await sandbox.fault({ status: 500, path: cardPath, method: 'GET', times: 3 });
    const busy = await call('GET', api, { token: sessionToken });
    assert.equal(busy.status, 503, busy.text);
    await sandbox.clearFaults();
    for (let i = 0; i < 2; i++) assert.equal((await call('GET', api, { token: sessionToken })).status, 200);

    // A merchant operation through the back office.
    const op = await call('POST', `${api}/admin/balance`, {
      headers: { 'x-admin-token': adminToken },
      body: { code, amount: 100, request_id: 'metrics-test-1' },
    });
    assert.equal(op.status, 200, op.text);

    // A rate-limit refusal: GET /open past its burst (10 at once by default).
    for (let i = 0; i < 30 && refusals === 0; i++) {
      const open = await call('GET', `${api}/open`, { token: sessionToken });
      if (open.status === 429) refusals += 1;
      else assert.equal(open.status, 200, open.text);
    }
    assert.equal(refusals, 1);

    // A login refused by its per-client limit: bogus codes are attempts too (counted before WeChat is asked).
    for (let i = 0; i < 10 && loginRefusals === 0; i++) {
      const login = await call('POST', `${running.url}/api/login`, { body: { code: 'bogus-code' } });
      if (login.status === 429) loginRefusals += 1;
      else assert.equal(login.status, 400, login.text);
    }
    assert.equal(loginRefusals, 1);

    const scraped = await call('GET', `${running.url}/metrics`);
    assert.equal(scraped.status, 200, scraped.text);
    assert.match(scraped.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    metrics = scraped.text;
  });
  after(async () => {
    await running?.close();
    await sandbox?.close();
  });

  test('the requests by route template and status, with the latency histogram', () => {
    const get = { method: 'GET', route: '/' };
    assert.equal(sample(metrics, 'membercard_http_requests_total', { ...get, status: '200' }), 2);
    assert.equal(sample(metrics, 'membercard_http_requests_total', { ...get, status: '503' }), 1);
    assert.equal(sample(metrics, 'membercard_http_request_duration_seconds_count', get), 3);
    assert.equal(sample(metrics, 'membercard_http_request_duration_seconds_bucket', { ...get, le: '+Inf' }), 3);
    assert.equal(
      sample(metrics, 'membercard_http_requests_total', { method: 'POST', route: '/admin/balance', status: '200' }),
      1,
    );
    assert.equal(
      sample(metrics, 'membercard_http_requests_total', { method: 'POST', route: '/notify', status: '204' }),
      1,
    );
    assert.equal(sample(metrics, 'membercard_http_requests_total', { route: '/open', status: '429' }), 1);
  });

  test('the upstream calls by API template and outcome: three 5xx attempts, then good ones', () => {
    const api = 'GET /v3/marketing/membercard-open/cards/{card_id}/codes/{code}';
    assert.equal(sample(metrics, 'membercard_upstream_requests_total', { api, outcome: '5xx' }), 3);
    // The good read after the faults; the cached one costs nothing; the operation reads the card once more.
    assert.ok((sample(metrics, 'membercard_upstream_requests_total', { api, outcome: 'ok' }) ?? 0) >= 1);
    assert.ok((sample(metrics, 'membercard_upstream_request_duration_seconds_count', { api }) ?? 0) >= 4);
    assert.equal(
      sample(metrics, 'membercard_upstream_requests_total', {
        api: 'PATCH /v3/marketing/membercard-open/cards/{card_id}/codes/{code}',
        outcome: 'ok',
      }),
      1,
      'the balance change',
    );
  });

  test('cache hits and misses, the stale series, notifications, operations and refusals', () => {
    assert.equal(sample(metrics, 'membercard_cache_lookups_total', { cache: 'card', result: 'hit' }), 1);
    assert.equal(sample(metrics, 'membercard_cache_lookups_total', { cache: 'card', result: 'miss' }), 2);
    assert.ok((sample(metrics, 'membercard_cache_lookups_total', { cache: 'code', result: 'hit' }) ?? 0) >= 1);
    assert.match(metrics, /^# TYPE membercard_cache_stale_answers_total counter$/m);
    assert.equal(
      sample(metrics, 'membercard_notifications_total', { type: 'MEMBERCARD.ACCEPT_CARD', outcome: 'processed' }),
      1,
    );
    assert.equal(sample(metrics, 'membercard_operations_total', { kind: 'balance', outcome: 'applied' }), 1);
    assert.equal(sample(metrics, 'membercard_rate_limited_total', { limit: 'open' }), 1);
    assert.equal(sample(metrics, 'membercard_rate_limited_total', { limit: 'login_client' }), 1);
    assert.equal(sample(metrics, 'membercard_rate_limited_total', { limit: 'login_total' }), undefined);
    // serve's own registry holds the process's default metrics too.
    assert.ok(sample(metrics, 'process_cpu_user_seconds_total') !== undefined);
  });

  test('no card code, openid, unionid, card id or token appears anywhere in the metrics', () => {
    for (const secret of [code, user.mp_openid, user.oa_openid, user.unionid, sessionToken, adminToken]) {
      assert.ok(secret.length > 0);
      assert.ok(!metrics.includes(secret), 'a metric carries a code, an openid or a token');
    }
    assert.ok(!metrics.includes(sandbox.credentials.cardId), 'the card id is a {card_id} template');
    assert.ok(!metrics.includes('metrics-test-1'), 'no request id');
  });

  test('the pino-style logger got (fields, message) at the right level, called as a method', () => {
    const failed = calls.find((c) => c.message === 'wechatpay request failed');
    assert.ok(failed, 'the 5xx attempts were logged');
    assert.equal(failed.level, 'warn');
    assert.equal(failed.fields.status, 500);
    assert.equal(failed.fields.path, `v3/marketing/membercard-open/cards/${sandbox.credentials.cardId}/codes/{code}`);
    assert.ok(
      calls.every((c) => c.bound),
      'called as logger.warn(…), so pino keeps its this',
    );
    assert.ok(calls.every((c) => typeof c.message === 'string' && typeof c.fields === 'object'));
  });

  test('a proxied request without the token is refused, whatever X-Forwarded-For says', async () => {
    for (const forwarded of ['127.0.0.1', '::1', '203.0.113.9']) {
      const reply = await call('GET', `${running.url}/metrics`, { headers: { 'x-forwarded-for': forwarded } });
      assert.equal(reply.status, 403, forwarded);
      assert.equal(reply.body.code, 'FORBIDDEN');
      assert.ok(!reply.text.includes('membercard_'));
    }
    const wrong = await call('GET', `${running.url}/metrics`, {
      headers: { 'x-forwarded-for': '127.0.0.1', 'x-admin-token': 'f'.repeat(64) },
    });
    assert.equal(wrong.status, 403);
    const allowed = await call('GET', `${running.url}/metrics`, {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-admin-token': adminToken },
    });
    assert.equal(allowed.status, 200);
    assert.match(allowed.text, /^membercard_http_requests_total\{/m);
    const bearer = await call('GET', `${running.url}/metrics`, {
      token: adminToken,
      headers: { forwarded: 'for=1.2.3.4' },
    });
    assert.equal(bearer.status, 200, 'the token as Authorization: Bearer');
    const post = await call('POST', `${running.url}/metrics`);
    assert.equal(post.status, 405);
    assert.equal(post.body.code, 'METHOD_NOT_ALLOWED');
  });

  test('refused to a connection from another address of this machine without the token, allowed with it', async (t) => {
    const address = outsideAddress();
    if (!address) {
      t.skip('this machine has no non-loopback IPv4 address');
      return;
    }
    const port = Number(new URL(running.url).port);
    const refused = await getFrom(address, port, '/metrics');
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.body).code, 'FORBIDDEN');
    const allowed = await getFrom(address, port, '/metrics', { 'x-admin-token': adminToken });
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /^membercard_http_requests_total\{/m);
  });
});
