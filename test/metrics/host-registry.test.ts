// Issue 15, metrics and logs in a host's own app: memberCard({ metrics }) puts its series in the
// host's prom-client registry (and nothing in prom-client's global one without it); the `log`
// options take a pino-style logger; both options are checked at creation, naming the option.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { register as globalRegister, Registry } from 'prom-client';
import { OptionsError } from '../../src/errors.js';
import type { LogFields } from '../../src/log.js';
import { wechatLogin } from '../../src/login/index.js';
import { memberCard } from '../../src/member-card.js';
import { createStore } from '../../src/store/index.js';
import { startHarness, type Harness } from '../support/harness.js';
import { TestSandbox } from '../support/sandbox.js';
import { sample } from '../support/metrics.js';
import { buildNotification } from '../support/notifications.js';

/** A pino-shaped logger that keeps every call (pino's own signature: fields first, then the message). */
function recordingLogger() {
  const calls: { level: string; fields: LogFields; message: string }[] = [];
  const at = (level: string) =>
    function (this: unknown, fields: LogFields, message: string) {
      assert.equal(this, logger, 'called as a method of the logger');
      calls.push({ level, fields, message });
    };
  const logger = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
  return { logger, calls };
}

describe("a host's registry and logger", () => {
  const registry = new Registry();
  const { logger, calls } = recordingLogger();
  let h: Harness;
  before(async () => {
    h = await startHarness({ memberCard: { metrics: registry, log: logger, cache: { ttlMs: 10_000 } } });
  });
  after(() => h.close());

  test("the series land in the host's registry, counted; none in prom-client's global registry", async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    const token = await h.login(user);
    for (let i = 0; i < 3; i++) assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
    const unknown = await h.api('GET', `/member-card/cards/${code}`, { token });
    assert.equal(unknown.status, 404);

    assert.equal(h.cards.metrics, registry);
    const text = await registry.metrics();
    assert.equal(sample(text, 'membercard_http_requests_total', { route: '/', status: '200' }), 3);
    assert.equal(sample(text, 'membercard_http_requests_total', { route: 'unmatched', status: '404' }), 1);
    assert.equal(sample(text, 'membercard_cache_lookups_total', { cache: 'card', result: 'hit' }), 2);
    assert.equal(sample(text, 'membercard_cache_lookups_total', { cache: 'card', result: 'miss' }), 1);
    assert.equal(
      sample(text, 'membercard_notifications_total', { type: 'MEMBERCARD.ACCEPT_CARD', outcome: 'processed' }),
      1,
    );
    assert.ok(!text.includes(code), 'the unknown path carried the code: it is not a label');
    assert.ok(!text.includes(user.oa_openid) && !text.includes(token));
    assert.deepEqual(
      (await globalRegister.getMetricsAsJSON()).filter((m) => m.name.startsWith('membercard_')),
      [],
      "nothing in prom-client's global registry",
    );
  });

  test('a redelivered notification is a duplicate, a forged one rejected; the logger hears both', async () => {
    const user = await h.sandbox.newUser();
    const parts = {
      eventType: 'MEMBERCARD.ACCEPT_CARD',
      payload: { event_type: 'NEW_ACTIVATE', card_id: h.creds.cardId, code: '900000000777', unionid: user.unionid },
      apiv3Key: h.creds.apiv3Key,
      signingKey: h.sandbox.platformPrivateKey(),
      serial: h.creds.publicKeyId as string,
    };
    const genuine = buildNotification(parts);
    const send = (n: { headers: Record<string, string>; body: string }) =>
      h.api('POST', '/member-card/notify', { raw: n.body, headers: n.headers });
    // WeChat Pay delivers again when our answer is lost: the same notification, applied once.
    assert.equal((await send(genuine)).status, 204);
    assert.equal((await send(genuine)).status, 204);
    // Signed with a key that is not WeChat Pay's.
    const forged = buildNotification({ ...parts, signingKey: h.sandbox.merchantPrivateKey() });
    assert.equal((await send(forged)).status, 401);
    const counted = await registry.metrics();
    const accept = { type: 'MEMBERCARD.ACCEPT_CARD' };
    assert.equal(sample(counted, 'membercard_notifications_total', { ...accept, outcome: 'duplicate' }), 1);
    const text = await registry.metrics();
    assert.equal(sample(text, 'membercard_notifications_total', { type: 'unverified', outcome: 'rejected' }), 1);
    const rejected = calls.find((c) => c.message === 'notification rejected');
    assert.ok(rejected, 'the refusal was logged through the logger');
    assert.equal(rejected.level, 'warn');
    assert.equal(rejected.fields.code, 'NOTIFICATION_INVALID');
    const applied = calls.find((c) => c.message === 'notification applied');
    assert.ok(applied, 'info lines go to logger.info');
    assert.equal(applied.level, 'info');
    assert.equal(applied.fields.eventType, 'MEMBERCARD.ACCEPT_CARD');
    assert.ok(!calls.some((c) => c.level === 'debug'), 'only info, warn and error are used');
  });

  test('upstream attempts by outcome, through the sandbox faults: network, bad_signature, 429, timeout', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    const path = `/v3/marketing/membercard-open/cards/${h.creds.cardId}/codes/${code}`;
    const read = () =>
      h.cards.client.getCard(h.creds.cardId, code).then(
        () => 'ok',
        (err: { code?: string }) => err.code,
      );
    // The client here makes 2 attempts of a repeatable call (retries: 1), 1.5 s each.
    await h.sandbox.fault({ reset: true, path, times: 2 });
    assert.equal(await read(), 'UPSTREAM_ERROR');
    await h.sandbox.fault({ bad_signature: true, path, times: 2 });
    assert.equal(await read(), 'UPSTREAM_ERROR');
    await h.sandbox.fault({ status: 429, path, times: 1 });
    assert.equal(await read(), 'RATE_LIMITED');
    await h.sandbox.fault({ latency_ms: 2000, path, times: 2 });
    assert.equal(await read(), 'UPSTREAM_TIMEOUT');
    assert.equal(await read(), 'ok');
    const text = await registry.metrics();
    const api = 'GET /v3/marketing/membercard-open/cards/{card_id}/codes/{code}';
    const attempts = (outcome: string) => sample(text, 'membercard_upstream_requests_total', { api, outcome });
    assert.equal(attempts('network'), 2);
    assert.equal(attempts('bad_signature'), 2);
    assert.equal(attempts('429'), 1);
    assert.equal(attempts('timeout'), 2);
    const seconds = sample(text, 'membercard_upstream_request_duration_seconds_bucket', { api, le: '1' }) ?? 0;
    const all = sample(text, 'membercard_upstream_request_duration_seconds_count', { api }) ?? 0;
    assert.ok(all - seconds >= 2, 'the two timed-out attempts took longer than 1 s');
  });

  test('two memberCard() on one registry share the series instead of failing to register', async () => {
    const second = memberCard(h.sandbox.cardOptions('memory:', { metrics: registry }));
    try {
      assert.equal(second.metrics, registry);
      assert.equal(registry.getMetricsAsArray().filter((m) => m.name === 'membercard_http_requests_total').length, 1);
    } finally {
      await second.close();
    }
  });
});

describe('options: metrics and log', () => {
  let sandbox: TestSandbox;
  before(async () => {
    sandbox = await TestSandbox.start();
  });
  after(() => sandbox.close());

  test('metrics must be a prom-client Registry; log a function or a pino-style logger', () => {
    for (const metrics of [{}, 'registry', { metrics: 1 }]) {
      assert.throws(
        // @ts-expect-error: not a Registry, on purpose
        () => memberCard(sandbox.cardOptions('memory:', { metrics })),
        (err: unknown) =>
          err instanceof OptionsError && err.option === 'metrics' && /must be a prom-client Registry/.test(err.message),
      );
    }
    for (const log of [{}, { info: () => {} }, 'stderr', 42]) {
      assert.throws(
        // @ts-expect-error: not a logger, on purpose
        () => memberCard(sandbox.cardOptions('memory:', { log })),
        (err: unknown) => err instanceof OptionsError && err.option === 'log' && /pino-style logger/.test(err.message),
      );
      assert.throws(
        // @ts-expect-error: not a logger, on purpose
        () => wechatLogin({ appid: 'wx0000000000000000', secret: 's', store: 'memory:', log }),
        (err: unknown) => err instanceof OptionsError && err.option === 'log',
      );
      // @ts-expect-error: not a logger, on purpose
      assert.throws(() => createStore({ engine: 'memory', log }), /store: "log(\.\w+)?" must be a function/);
    }
    const cards = memberCard(sandbox.cardOptions('memory:'));
    assert.notEqual(cards.metrics, globalRegister, 'without the option: a private registry');
    assert.equal(typeof cards.options.log, 'function', 'a logger given is used through our Log function');
  });

  test("a store's outage is told to a pino-style logger given to createStore()", async () => {
    const { logger, calls } = recordingLogger();
    // Nothing listens on port 1: the first use fails, and the outage is logged once.
    const store = createStore({ engine: 'redis', url: 'redis://127.0.0.1:1', connectTimeoutMs: 200, log: logger });
    await assert.rejects(store.init());
    await store.close();
    const down = calls.find((c) => c.message === 'store unavailable');
    assert.ok(down, JSON.stringify(calls));
    assert.equal(down.level, 'error');
    assert.equal(down.fields.engine, 'redis');
  });
});
