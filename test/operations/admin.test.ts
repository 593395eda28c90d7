// The back-office routes over HTTP, input validation (nothing stored or sent on bad input), the
// read cache being dropped by a change, and `serve` with MEMBERCARD_ADMIN_TOKEN.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from 'koa';
import { OptionsError } from '../../src/errors.js';
import { startServer } from '../../src/server/serve.js';
import { adminTokenAuthorizer } from '../../src/server/admin-token.js';
import { startHarness, type Harness } from '../support/harness.js';
import { call } from '../support/http.js';
import type { SandboxUser } from '../support/sandbox.js';
import { tempDir } from '../support/temp.js';

const TOKEN = 'test-admin-token-7f3a9c1e5b2d8046';
let seq = 0;
const rid = (label: string) => `${label}-${Date.now()}-${++seq}`;

describe('admin routes (authorizeAdmin given)', () => {
  let h: Harness;
  let code: string;
  let user: SandboxUser;
  const admin = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = { 'x-admin-token': TOKEN },
  ) => h.api(method, `/member-card/admin${path}`, { ...(body === undefined ? {} : { body }), headers });

  before(async () => {
    h = await startHarness({ memberCard: { authorizeAdmin: (ctx: Context) => ctx.get('x-admin-token') === TOKEN } });
    user = await h.sandbox.newUser();
    ({ code } = await h.giveCard(user, { balance: 500, bonus_value: 20 }));
  });
  after(() => h.close());

  it('403 FORBIDDEN without the token, before reading the body or calling anybody', async () => {
    const count = await h.sandbox.upstreamCount();
    for (const [method, path] of [
      ['POST', '/balance'],
      ['POST', '/points'],
      ['POST', '/level'],
      ['POST', '/membership-number'],
      ['GET', `/history?code=${code}`],
      ['GET', '/operations/x'],
    ] as const) {
      const reply = await admin(
        method,
        path,
        method === 'POST' ? { code, amount: 1, request_id: rid('nope') } : undefined,
        { 'x-admin-token': 'wrong' },
      );
      assert.equal(reply.status, 403, `${method} ${path}`);
      assert.equal(reply.body.code, 'FORBIDDEN');
    }
    assert.equal(await h.sandbox.upstreamCount(), count);
  });

  it('a lone surrogate in a body is refused with 400 naming the field; nothing is stored or sent', async () => {
    const count = await h.sandbox.upstreamCount();
    const requestId = rid('lone');
    // JSON may spell a lone surrogate as an escape; such text cannot be stored as given.
    const raw = `{"code":"${code}","amount":1,"request_id":"${requestId}","remark":"ok \\ud800"}`;
    const reply = await h.api('POST', '/member-card/admin/balance', {
      raw,
      headers: { 'x-admin-token': TOKEN, 'content-type': 'application/json' },
    });
    assert.equal(reply.status, 400, reply.text);
    assert.equal(reply.body.code, 'INVALID_REQUEST');
    assert.deepEqual(reply.body.details, [
      { field: 'remark', issue: 'must be well-formed Unicode (it holds a lone surrogate)' },
    ]);
    assert.equal((await admin('GET', `/operations/${requestId}`)).status, 404, 'nothing journalled');
    assert.equal(await h.sandbox.upstreamCount(), count, 'nothing sent');
  });

  it(
    'a till: top-up then purchase, each answered with its journal entry; ' + 'a retried request answers the same',
    async () => {
      const topUp = await admin('POST', '/balance', {
        code,
        amount: 10000,
        remark: '充值100元',
        request_id: 'till1-topup-0001',
        actor: 'cashier-7',
      });
      assert.equal(topUp.status, 200, topUp.text);
      assert.equal(topUp.headers.get('cache-control'), 'no-store');
      assert.deepEqual(
        { ...topUp.body.operation, out_request_no: 'x', created_at: 'x', updated_at: 'x' },
        {
          request_id: 'till1-topup-0001',
          kind: 'balance',
          code,
          amount: 10000,
          remark: '充值100元',
          actor: 'cashier-7',
          state: 'applied',
          before: 500,
          after: 10500,
          out_request_no: 'x',
          created_at: 'x',
          updated_at: 'x',
        },
      );
      const purchase = await admin('POST', '/balance', {
        code,
        amount: -3000,
        remark: '珍珠奶茶',
        request_id: 'till1-sale-0002',
      });
      assert.equal(purchase.body.operation.after, 7500);
      assert.equal(purchase.body.operation.actor, 'admin', 'the default actor');
      const again = await admin('POST', '/balance', {
        code,
        amount: -3000,
        remark: '珍珠奶茶',
        request_id: 'till1-sale-0002',
      });
      assert.deepEqual(again.body, purchase.body);
      const card = await h.sandbox.card(code);
      assert.equal(card.balance, 7500);

      const history = await admin('GET', `/history?code=${code}&limit=10`);
      assert.equal(history.status, 200);
      assert.deepEqual(
        history.body.data.map((e: { request_id: string }) => e.request_id),
        ['till1-sale-0002', 'till1-topup-0001'],
      );
      assert.deepEqual(Object.keys(history.body.data[1]).sort(), [
        'actor',
        'after',
        'amount',
        'at',
        'before',
        'kind',
        'remark',
        'request_id',
      ]);
      const one = await admin('GET', '/operations/till1-topup-0001');
      assert.equal(one.body.operation.after, 10500);
      assert.equal((await admin('GET', '/operations/never-used')).body.code, 'NOT_FOUND');
    },
  );

  it('points, level and membership number', async () => {
    assert.equal(
      (await admin('POST', '/points', { code, amount: 5, request_id: rid('pts') })).body.operation.after,
      25,
    );
    assert.equal(
      (await admin('POST', '/level', { code, level: '金卡会员', request_id: rid('lvl') })).body.operation.after,
      '金卡会员',
    );
    const num = await admin('POST', '/membership-number', { code, membership_number: 'M-42', request_id: rid('num') });
    assert.equal(num.body.operation.after, 'M-42');
  });

  it('errors are JSON with stable codes and name the HTTP field', async () => {
    const cases: [string, Record<string, unknown>, number, string, string | undefined][] = [
      ['/balance', { code, amount: 1 }, 400, 'INVALID_REQUEST', 'request_id'],
      ['/balance', { code, amount: 0, request_id: rid('z') }, 400, 'INVALID_REQUEST', 'amount'],
      ['/balance', { code, amount: 1.5, request_id: rid('z') }, 400, 'INVALID_REQUEST', 'amount'],
      ['/balance', { code, amount: '1', request_id: rid('z') }, 400, 'INVALID_REQUEST', 'amount'],
      ['/balance', { amount: 1, request_id: rid('z') }, 400, 'INVALID_REQUEST', 'code'],
      // '../x' was refused here too; codes are string(32) of any characters, and it goes out
      // percent-encoded as one segment, so only codes that cannot be one are refused locally.
      ['/balance', { code: 'x'.repeat(33), amount: 1, request_id: rid('z') }, 400, 'INVALID_REQUEST', 'code'],
      ['/balance', { code: 'a\nb', amount: 1, request_id: rid('z') }, 400, 'INVALID_REQUEST', 'code'],
      ['/balance', { code, amount: 1, request_id: 'has space' }, 400, 'INVALID_REQUEST', 'request_id'],
      ['/balance', { code, amount: 1, request_id: 'x'.repeat(65) }, 400, 'INVALID_REQUEST', 'request_id'],
      [
        '/balance',
        { code, amount: 1, request_id: rid('z'), remark: 'r'.repeat(101) },
        400,
        'INVALID_REQUEST',
        'remark',
      ],
      ['/balance', { code, amount: 1, request_id: rid('z'), openid: 'x' }, 400, 'INVALID_REQUEST', 'openid'],
      ['/level', { code, level: '超级钻石会员', request_id: rid('z') }, 400, 'INVALID_REQUEST', 'level'],
      [
        '/membership-number',
        { code, membership_number: '会员1', request_id: rid('z') },
        400,
        'INVALID_REQUEST',
        'membership_number',
      ],
      [
        '/membership-number',
        { code, membership_number: 'x'.repeat(33), request_id: rid('z') },
        400,
        'INVALID_REQUEST',
        'membership_number',
      ],
      ['/balance', { code, amount: -1_000_000, request_id: rid('broke') }, 400, 'INSUFFICIENT_BALANCE', 'amount'],
      ['/balance', { code: '999999999999', amount: 1, request_id: rid('z') }, 404, 'CARD_NOT_FOUND', undefined],
      ['/balance', { code: '../x', amount: 1, request_id: rid('z') }, 404, 'CARD_NOT_FOUND', undefined],
    ];
    const count = await h.sandbox.upstreamCount();
    let expectedUpstream = count;
    for (const [path, body, status, errorCode, field] of cases) {
      const reply = await admin('POST', path, body);
      assert.equal(reply.status, status, `${path} ${JSON.stringify(body)} → ${reply.text}`);
      assert.equal(reply.body.code, errorCode);
      assert.equal(typeof reply.body.message, 'string');
      if (field) assert.equal(reply.body.details?.[0]?.field, field, reply.text);
      // Only the two last ones read a card (GET); none sends a PATCH.
      if (errorCode === 'INSUFFICIENT_BALANCE' || errorCode === 'CARD_NOT_FOUND') expectedUpstream += 1;
    }
    assert.equal(await h.sandbox.upstreamCount(), expectedUpstream);
    const conflict = await admin('POST', '/balance', {
      code,
      amount: 2,
      remark: '珍珠奶茶',
      request_id: 'till1-sale-0002',
    });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.code, 'OPERATION_CONFLICT');
    assert.equal((await admin('GET', '/history')).body.details[0].field, 'code');
    assert.equal((await admin('GET', `/history?code=${code}&limit=0`)).body.details[0].field, 'limit');
    assert.equal((await admin('POST', '/balance', undefined)).status, 400);
  });

  it('the API rejects bad input with INVALID_REQUEST naming the field, storing and sending nothing', async () => {
    const ops = h.cards.operations;
    const count = await h.sandbox.upstreamCount();
    const bad: [Promise<unknown>, string][] = [
      [ops.adjustBalance({ code, amount: 1, requestId: '' }), 'requestId'],
      [ops.adjustBalance({ code, amount: Number.MAX_SAFE_INTEGER + 1, requestId: 'api-1' }), 'amount'],
      [ops.adjustPoints({ code, amount: Number.NaN, requestId: 'api-2' }), 'amount'],
      [ops.adjustBalance({ code, user: { openid: 'x' }, amount: 1, requestId: 'api-3' } as never), 'code'],
      [ops.adjustBalance({ amount: 1, requestId: 'api-4' } as never), 'code'],
      [ops.adjustBalance({ user: { openid: '' }, amount: 1, requestId: 'api-5' }), 'user'],
      [ops.setLevel({ code, level: '', requestId: 'api-6' }), 'level'],
      [ops.setMembershipNumber({ code, membershipNumber: 'a b', requestId: 'api-7' }), 'membershipNumber'],
      [ops.adjustBalance({ code, amount: 1, requestId: 'api-8', actor: 'a'.repeat(65) }), 'actor'],
      [ops.adjustBalance({ code, amount: 1, requestId: 'api-9', remark: 'line\nbreak' }), 'remark'],
      [ops.history({ code, limit: 501 }), 'limit'],
    ];
    for (const [promise, field] of bad) {
      await assert.rejects(promise, (err: { code?: string; details?: { field: string }[] }) => {
        assert.equal(err.code, 'INVALID_REQUEST');
        assert.equal(err.details?.[0]?.field, field);
        return true;
      });
    }
    assert.equal(await h.sandbox.upstreamCount(), count);
    for (let i = 1; i <= 9; i++) assert.equal(await ops.get(`api-${i}`), undefined);
  });

  it('a change drops the card from the read cache: the user sees the new balance at once', async () => {
    const token = await h.login(user);
    const first = await h.api('GET', '/member-card', { token });
    assert.equal(first.status, 200);
    const balance = first.body.card.balance as number;
    await h.cards.operations.adjustBalance({ code, amount: 1, requestId: rid('cache') });
    const second = await h.api('GET', '/member-card', { token });
    assert.equal(second.body.card.balance, balance + 1);
  });
});

describe('admin routes without authorizeAdmin', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('are not mounted: 404', async () => {
    const reply = await h.api('POST', '/member-card/admin/balance', {
      body: { code: '1', amount: 1, request_id: 'x' },
    });
    assert.equal(reply.status, 404);
  });

  it('authorizeAdmin must be a function', async () => {
    const { memberCard } = await import('../../src/member-card.js');
    const options = h.sandbox.cardOptions('memory:');
    assert.throws(
      () => memberCard({ ...options, authorizeAdmin: 'yes' as never }),
      /option "authorizeAdmin" must be of type function/,
    );
    assert.throws(() => memberCard({ ...options, operations: { lockTtlMs: 5 } }), /option "operations.lockTtlMs"/);
    assert.ok(memberCard({ ...options, authorizeAdmin: () => true }).operations);
  });
});

describe('serve: MEMBERCARD_ADMIN_TOKEN', () => {
  it('adminTokenAuthorizer checks X-Admin-Token or a bearer token, and refuses weak tokens', () => {
    assert.equal(adminTokenAuthorizer(undefined), undefined);
    assert.equal(adminTokenAuthorizer(''), undefined);
    assert.throws(() => adminTokenAuthorizer('short'), OptionsError);
    assert.throws(() => adminTokenAuthorizer('has a space in it, long enough'), OptionsError);
    const check = adminTokenAuthorizer(TOKEN) as (ctx: Context) => boolean;
    const ctx = (headers: Record<string, string>) =>
      ({ get: (name: string) => headers[name.toLowerCase()] ?? '' }) as unknown as Context;
    assert.equal(check(ctx({ 'x-admin-token': TOKEN })), true);
    assert.equal(check(ctx({ authorization: `Bearer ${TOKEN}` })), true);
    assert.equal(check(ctx({ 'x-admin-token': `${TOKEN}x` })), false);
    assert.equal(check(ctx({ 'x-admin-token': TOKEN.slice(0, -1) })), false);
    assert.equal(check(ctx({})), false);
  });

  it('serve mounts the admin routes at /api/member-card/admin and checks the token', async () => {
    const state = tempDir('serve-admin');
    const running = await startServer(
      {
        PORT: '0',
        SANDBOX_PORT: '0',
        SANDBOX_STATE: state.dir,
        MEMBERCARD_STORE: 'memory:',
        MEMBERCARD_ADMIN_TOKEN: TOKEN,
      },
      () => undefined,
    );
    try {
      const code = running.demo?.code as string;
      const post = (headers: Record<string, string>) =>
        call('POST', `${running.url}/api/member-card/admin/balance`, {
          headers,
          body: { code, amount: 100, request_id: 'serve-topup-1' },
        });
      assert.equal((await post({})).status, 403);
      assert.equal((await post({ 'x-admin-token': 'not-the-token-at-all' })).status, 403);
      const ok = await post({ 'x-admin-token': TOKEN });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.operation.after, ok.body.operation.before + 100);
      assert.equal(
        (await post({ authorization: `Bearer ${TOKEN}` })).status,
        200,
        'a bearer token works too (the same request_id: same answer)',
      );
    } finally {
      await running.close();
      state.remove();
    }
  });
});
