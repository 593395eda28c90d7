import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';
import { waitFor } from '../support/poll.js';

// The harness's client: 1,500 ms per attempt, one retry for calls that are safe to repeat.
describe('upstream faults map to documented answers, and the server keeps serving', () => {
  let h: Harness;
  let token: string;
  let code: string;
  before(async () => {
    h = await startHarness();
    const user = await h.sandbox.newUser();
    ({ code } = await h.giveCard(user, { balance: 500 }));
    token = await h.login(user);
  });
  afterEach(() => h.sandbox.clearFaults());
  after(() => h.close());

  const fault = (spec: Record<string, unknown>) => h.sandbox.fault(spec);

  async function stillServes() {
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 200, `still serving: ${reply.text}`);
  }

  test('timeout → 504 UPSTREAM_TIMEOUT, after one retry', async () => {
    await fault({ latency_ms: 2500, times: 2 });
    const before = await h.sandbox.upstreamCount();
    const started = Date.now();
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 504);
    assert.equal(reply.body.code, 'UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 4500, 'bounded by timeout × attempts');
    const attempts = h.logs.filter(
      (l) => l.message === 'wechatpay request failed' && l.fields?.code === 'ECONNABORTED',
    );
    assert.deepEqual(
      attempts.map((l) => l.fields?.attempt),
      [1, 2],
    );
    // The sandbox logs a request when it answers, which the delayed ones have not done yet.
    await waitFor(
      'both attempts to reach the sandbox',
      4000,
      async () => (await h.sandbox.upstreamCount()) === before + 2,
    );
    await stillServes();
  });

  test('a 5xx that persists → 503 UPSTREAM_BUSY with Retry-After', async () => {
    await fault({ status: 500, code: 'SYSTEM_ERROR' });
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 503);
    assert.equal(reply.body.code, 'UPSTREAM_BUSY');
    assert.ok(Number(reply.headers.get('retry-after')) > 0);
    assert.equal(reply.text.includes('SYSTEM_ERROR'), false, 'no upstream wording reaches the client');
    await h.sandbox.clearFaults();
    await stillServes();
  });

  test('a single 5xx is retried and the user never sees it', async () => {
    await fault({ status: 503, code: 'SERVICE_UNAVAILABLE', times: 1 });
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 200, reply.text);
  });

  test('a PATCH whose answer is lost is retried with the same out_request_no and applied once', async () => {
    // The sandbox applies the change, then the answer is too slow: our retry must not apply it twice.
    await fault({ latency_ms: 2000, times: 1, method: 'PATCH' });
    const before = await h.sandbox.requests();
    const reply = await h.api('PATCH', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
    assert.equal(reply.status, 200, reply.text);
    const lastSeq = before.at(-1)?.seq ?? 0;
    const patches = async () => (await h.sandbox.requests()).filter((r) => r.method === 'PATCH' && r.seq > lastSeq);
    // The first attempt is logged by the sandbox when its delayed answer goes out.
    await waitFor('both PATCHes to be logged', 4000, async () => (await patches()).length === 2);
    const sent = await patches();
    assert.ok(
      sent.every((r) => r.status === 204),
      'both attempts were answered 204 by WeChat Pay',
    );
    const card = await h.sandbox.card(code);
    assert.equal(card.background_picture_url, BACKGROUNDS[0]);
  });

  test('429 → 429 RATE_LIMITED, not retried', async () => {
    await fault({ status: 429, code: 'RATELIMIT_EXCEEDED' });
    const before = await h.sandbox.upstreamCount();
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 429);
    assert.equal(reply.body.code, 'RATE_LIMITED');
    assert.ok(reply.headers.get('retry-after'));
    assert.equal(await h.sandbox.upstreamCount(), before + 1);
  });

  test('connection reset → 502 UPSTREAM_ERROR', async () => {
    await fault({ reset: true });
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 502);
    assert.equal(reply.body.code, 'UPSTREAM_ERROR');
    await h.sandbox.clearFaults();
    await stillServes();
  });

  test('a response whose signature does not verify → 502 UPSTREAM_ERROR, its body never shown', async () => {
    await fault({ bad_signature: true });
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 502);
    assert.equal(reply.body.code, 'UPSTREAM_ERROR');
    assert.equal(reply.text.includes(code), false, 'the unverified card is not passed on');
    await h.sandbox.clearFaults();
    await stillServes();
  });

  test('upstream 4xx on our own signature → 502; logs hold no secret, body or stack', async () => {
    await fault({ status: 401, code: 'SIGN_ERROR', times: 1 });
    const reply = await h.api('GET', '/member-card', { token });
    assert.equal(reply.status, 502);
    assert.equal(reply.body.code, 'UPSTREAM_ERROR');
    const logged = JSON.stringify(h.logs);
    assert.ok(h.logs.some((l) => l.message === 'wechatpay request failed' && l.fields?.code === 'SIGN_ERROR'));
    for (const secret of [h.creds.apiv3Key, 'PRIVATE KEY', code, token, '    at ']) {
      assert.equal(logged.includes(secret), false, `log must not contain ${secret.slice(0, 12)}`);
    }
  });
});
