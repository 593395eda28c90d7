// Issue 12, "Also": a property-based suite. fast-check throws random bodies, headers, query strings
// and methods at every JSON route, and random envelopes at the notification verifier (directly and
// over HTTP): never a 500, never a change in the store, always a documented error code. The store
// is a SQLite file, read before and after every case through a connection of its own.
// RUNS cases per property (MEMBERCARD_FUZZ_RUNS; CI runs the default, 200); the verifier's direct
// properties run 5 × RUNS. A failure prints fast-check's seed and the shrunk request.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ERRORS, MemberCardError, type ErrorCode } from '../../src/errors.js';
import { loadPlatformKey } from '../../src/wechatpay/keys.js';
import { NotificationVerifier } from '../../src/wechatpay/notification.js';
import { startHarness, type Harness } from '../support/harness.js';
import { buildNotification, encryptResource, signHeaders } from '../support/notifications.js';
import {
  body,
  encodeComponent,
  headers,
  json,
  query,
  RUNS,
  send,
  snapshots,
  text,
  type HeaderChoice,
  type RawReply,
  type Snapshots,
} from '../support/fuzz.js';
import { freshStore, unavailable, type TestStore } from '../support/services.js';

const ADMIN = randomBytes(32).toString('hex');
/** Our limits would answer 429 before the input is even read; the limits have tests of their own. */
const UNLIMITED = { burst: 1_000_000, perMinute: 10_000_000 };

interface Route {
  method: string;
  path: string;
  /** The body or query fields the route knows, so that generated input gets past the first checks. */
  fields: readonly string[];
  /** Whether a valid session token / admin token may be sent. */
  session?: boolean;
  admin?: boolean;
  /** A path segment the route takes (GET /admin/operations/{request_id}). */
  segment?: boolean;
  /** The one table a successful call may change: GET /open renews the outer_str, GET /code replaces the code. */
  changes?: string;
}

const ADMIN_FIELDS = ['code', 'amount', 'remark', 'request_id', 'actor', 'level', 'membership_number', 'user', 'limit'];

const ROUTES: Route[] = [
  { method: 'GET', path: '/member-card', fields: [], session: true },
  { method: 'PATCH', path: '/member-card', fields: ['background_picture_url'], session: true },
  { method: 'PUT', path: '/member-card', fields: ['background_picture_url'], session: true },
  { method: 'GET', path: '/member-card/open', fields: [], session: true, changes: 'outer_strs' },
  { method: 'GET', path: '/member-card/code', fields: [], session: true, changes: 'member_codes' },
  { method: 'GET', path: '/member-card/history', fields: ['cursor', 'limit'], session: true },
  { method: 'POST', path: '/member-card/notify', fields: ['id', 'event_type', 'resource'] },
  ...['balance', 'points', 'level', 'membership-number', 'bindings'].map((r) => ({
    method: 'POST',
    path: `/member-card/admin/${r}`,
    fields: ADMIN_FIELDS,
    admin: true,
  })),
  { method: 'POST', path: '/member-card/admin/codes/verify', fields: ['code'], admin: true },
  { method: 'GET', path: '/member-card/admin/history', fields: ['code', 'limit'], admin: true },
  { method: 'GET', path: '/member-card/admin/operations', fields: [], admin: true, segment: true },
  // Any path below the prefix, any method: an unknown route is a JSON 404 too (found by this suite).
  { method: 'GET', path: '/member-card', fields: [], session: true, admin: true, segment: true },
  { method: 'POST', path: '/login', fields: ['code'] },
  { method: 'POST', path: '/logout', fields: [] },
];

/** What an answer must be: never 5xx; an error is a documented code, as JSON, and changed nothing. */
function checkAnswer(
  reply: RawReply,
  method: string,
  route: Route,
  changed: { any: boolean; onlyItsTable: boolean },
): void {
  assert.ok(reply.status < 500, `a ${reply.status}: ${reply.text.slice(0, 300)}`);
  if (reply.status >= 400) {
    assert.equal(changed.any, false, 'an error changed the store');
    if (method === 'HEAD') return;
    assert.match(
      String(reply.headers['content-type']),
      /^application\/json/,
      `${reply.status} ${reply.text.slice(0, 200)}`,
    );
    const answer = JSON.parse(reply.text) as { code: string; message: string; details?: unknown };
    assert.deepEqual(
      Object.keys(answer).filter((k) => !['code', 'message', 'details'].includes(k)),
      [],
      reply.text,
    );
    assert.ok(answer.code in ERRORS, `undocumented code ${answer.code}`);
    assert.equal(ERRORS[answer.code as ErrorCode], reply.status, reply.text);
    assert.equal(typeof answer.message, 'string');
    if (reply.status === 429) assert.match(String(reply.headers['retry-after']), /^\d+$/);
    return;
  }
  // Random input that was accepted: only reads, OPTIONS, a logout of a random token, or GET /open
  // and GET /code, which change their one table (the caller's outer_str, the caller's member code).
  const reading = ['GET', 'HEAD', 'OPTIONS'].includes(method);
  const logout = route.path === '/logout' && method === 'POST';
  assert.ok(reading || logout, `${method} ${route.path} accepted random input: ${reply.status} ${reply.text}`);
  // HEAD is GET without the body (Koa's router runs the GET route).
  const itsOwn = route.changes !== undefined && (method === 'GET' || method === 'HEAD');
  assert.ok(!changed.any || (itsOwn && changed.onlyItsTable), `${method} ${route.path} changed the store`);
}

for (const [engine, runs] of [
  ['sqlite', RUNS],
  ['postgres', Math.ceil(RUNS / 2)],
] as const)
  describe(`property: random requests to every JSON route (${engine} store)`, async () => {
    const skip = await unavailable(engine, 'properties');
    let h: Harness;
    let place: TestStore;
    let snaps: Snapshots;
    let session: string;

    before(async () => {
      if (skip) return;
      place = freshStore(engine, 'fuzz');
      h = await startHarness({
        store: place.url,
        memberCard: {
          authorizeAdmin: (ctx) => ctx.get('x-admin-token') === ADMIN,
          rateLimit: { open: UNLIMITED, adminFailures: UNLIMITED },
          memberCode: { burst: 1000, perMinute: 6000 },
        },
        login: { rateLimit: { perClient: UNLIMITED, total: UNLIMITED } },
      });
      const user = await h.sandbox.newUser();
      await h.giveCard(user); // so that GET / with the session goes all the way to WeChat Pay
      session = await h.login(user);
      snaps = await snapshots(place);
    });
    after(async () => {
      if (skip) return;
      await snaps.close();
      await h.close();
      await place.cleanup();
    });

    const requestHeaders = (c: HeaderChoice): Record<string, string> => {
      const out: Record<string, string> = { ...c.extra };
      if (c.contentType !== undefined) out['content-type'] = c.contentType;
      if (c.contentEncoding !== undefined) out['content-encoding'] = c.contentEncoding;
      if (c.authorization !== undefined)
        out['authorization'] = c.authorization === 'SESSION' ? `Bearer ${session}` : c.authorization;
      if (c.adminToken !== undefined) out['x-admin-token'] = c.adminToken === 'ADMIN' ? ADMIN : c.adminToken;
      if (c.forwardedFor !== undefined) out['x-forwarded-for'] = c.forwardedFor;
      return { ...out, ...c.wechatpay };
    };

    for (const route of ROUTES) {
      test(
        `${route.method} ${route.path}${route.segment ? '/{id}' : ''}: ${runs} random requests`,
        { skip },
        async () => {
          const cases = fc.record({
            method: fc.oneof(
              { weight: 8, arbitrary: fc.constant(route.method) },
              { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
            ),
            segment: route.segment
              ? fc
                  .array(text(20), { minLength: 1, maxLength: 3 })
                  .map((parts) => parts.map((p) => `/${encodeComponent(p)}`).join(''))
              : fc.constant(''),
            query: query(route.fields),
            headers: headers({ session: route.session === true, admin: route.admin === true }),
            body: body(route.fields),
          });
          await fc.assert(
            fc.asyncProperty(cases, async (c) => {
              const before = await snaps.take(['rate_buckets']);
              const table = route.changes ?? '';
              const beforeOthers = JSON.stringify({ ...before, [table]: [] });
              const reply = await send(
                `${h.url}${route.path}${c.segment}${c.query}`,
                c.method,
                requestHeaders(c.headers),
                c.body,
              );
              const afterAll = await snaps.take(['rate_buckets']);
              checkAnswer(reply, c.method, route, {
                any: JSON.stringify(afterAll) !== JSON.stringify(before),
                onlyItsTable: JSON.stringify({ ...afterAll, [table]: [] }) === beforeOthers,
              });
            }),
            { numRuns: runs },
          );
        },
      );
    }
  });

test('found by this suite: a path under the prefix that no route takes is a JSON 404, not host text', async () => {
  const h = await startHarness({ memberCard: { authorizeAdmin: () => false } });
  try {
    for (const path of [
      '/member-card/nope',
      '/member-card/admin/operations/',
      '/member-card/admin',
      '/member-card/%00',
    ]) {
      const reply = await send(`${h.url}${path}`, 'GET', {}, undefined);
      assert.equal(reply.status, 404, path);
      assert.deepEqual(JSON.parse(reply.text), { code: 'NOT_FOUND', message: 'No such route.' }, path);
    }
    // Outside the prefix it is the host's to answer.
    assert.equal((await send(`${h.url}/elsewhere`, 'GET', {}, undefined)).text, 'Not Found');
  } finally {
    await h.close();
  }
});

describe('property: random envelopes at the notification verifier', () => {
  let h: Harness;
  let place: TestStore;
  let snaps: Snapshots;
  let verifier: NotificationVerifier;
  let signingKey: string;
  let serial: string;

  before(async () => {
    place = freshStore('sqlite', 'fuzz_notify');
    h = await startHarness({ store: place.url });
    signingKey = h.sandbox.platformPrivateKey();
    serial = h.creds.publicKeyId as string;
    const { key } = loadPlatformKey(h.creds.publicKey as string, { factory: 'test' });
    verifier = new NotificationVerifier({ certs: { [serial]: key }, apiv3Key: h.creds.apiv3Key });
    snaps = await snapshots(place);
  });
  after(async () => {
    await snaps.close();
    await h.close();
    await place.cleanup();
  });

  /** The verifier either answers a notification or throws one of its two documented errors. */
  const verifyOrRefuse = (
    headersIn: Record<string, string>,
    raw: string,
  ): ReturnType<NotificationVerifier['verify']> | ErrorCode => {
    try {
      return verifier.verify(headersIn, raw);
    } catch (err) {
      assert.ok(err instanceof MemberCardError, `threw ${String(err)}`);
      assert.ok(['NOTIFICATION_INVALID', 'NOTIFICATION_UNREADABLE'].includes(err.code), err.code);
      return err.code;
    }
  };

  const wechatpayHeaders = fc.record({
    'wechatpay-timestamp': fc.oneof(
      fc.constant(String(Math.floor(Date.now() / 1000))),
      fc.integer({ min: -1, max: 2 ** 40 }).map(String),
      text(14),
    ),
    'wechatpay-nonce': text(32),
    'wechatpay-serial': fc.oneof(fc.constant('SERIAL'), text(40)),
    'wechatpay-signature': fc.oneof(fc.base64String({ maxLength: 400 }), text(60)),
  });

  test(`unsigned or forged: ${RUNS * 5} random header sets and bodies are all NOTIFICATION_INVALID`, () => {
    fc.assert(
      fc.property(
        wechatpayHeaders,
        fc.oneof(
          text(300),
          json(['id', 'event_type', 'resource']).map((v) => JSON.stringify(v) ?? ''),
        ),
        (hs, raw) => {
          const withSerial = {
            ...hs,
            'wechatpay-serial': hs['wechatpay-serial'] === 'SERIAL' ? serial : hs['wechatpay-serial'],
          };
          assert.equal(verifyOrRefuse(withSerial, raw), 'NOTIFICATION_INVALID');
        },
      ),
      { numRuns: RUNS * 5 },
    );
  });

  /** An envelope of any shape around a resource of any shape, signed as WeChat Pay signs. */
  const signedBody = fc.oneof(
    text(300),
    json(['id', 'event_type', 'resource', 'create_time']).map((v) => JSON.stringify(v) ?? 'null'),
    fc
      .record({
        id: fc.oneof(fc.uuid(), text(70)),
        event_type: fc.oneof(fc.constantFrom('MEMBERCARD.ACCEPT_CARD', 'MEMBERCARD.ACTIVATE_CARD'), text(70)),
        resource: fc.oneof(
          json(['algorithm', 'ciphertext', 'nonce', 'associated_data']),
          fc.record({
            algorithm: fc.constantFrom('AEAD_AES_256_GCM', 'AES', ''),
            ciphertext: fc.base64String({ maxLength: 200 }),
            nonce: text(16),
            associated_data: fc.option(text(16), { nil: undefined }),
          }),
        ),
      })
      .map((e) => JSON.stringify(e)),
  );

  test(`signed, of any shape: ${RUNS * 5} bodies are NOTIFICATION_UNREADABLE, never anything else`, () => {
    fc.assert(
      fc.property(signedBody, (raw) => {
        assert.equal(verifyOrRefuse(signHeaders(raw, signingKey, serial), raw), 'NOTIFICATION_UNREADABLE');
      }),
      { numRuns: RUNS * 5 },
    );
  });

  test(`a genuine notification with one byte changed (${RUNS * 5} ways) is refused, and changes nothing`, () => {
    const n = buildNotification({
      eventType: 'MEMBERCARD.ACCEPT_CARD',
      payload: { card_id: h.creds.cardId, code: '123' },
      apiv3Key: h.creds.apiv3Key,
      signingKey,
      serial,
    });
    assert.notEqual(typeof verifyOrRefuse(n.headers, n.body), 'string', 'the genuine one verifies');
    const parts = ['body', 'wechatpay-signature', 'wechatpay-timestamp', 'wechatpay-nonce'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...parts), fc.nat(), fc.integer({ min: 1, max: 94 }), (part, at, shift) => {
        const original = (part === 'body' ? n.body : n.headers[part]) ?? '';
        const i = at % original.length;
        const changed =
          original.slice(0, i) +
          String.fromCharCode(((original.charCodeAt(i) - 32 + shift) % 95) + 32) +
          original.slice(i + 1);
        const hs = part === 'body' ? n.headers : { ...n.headers, [part]: changed };
        // The last base64 character of a signature carries bits that decode to nothing: changing
        // only those leaves the very same signature bytes, which rightly still verify.
        const sameBytes =
          part === 'wechatpay-signature' && Buffer.from(changed, 'base64').equals(Buffer.from(original, 'base64'));
        if (sameBytes) return;
        // A changed nonce or timestamp breaks the signature too: it covers them.
        assert.equal(verifyOrRefuse(hs, part === 'body' ? changed : n.body), 'NOTIFICATION_INVALID', `${part}[${i}]`);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  test(`over HTTP: ${RUNS} signed notifications, random payloads: 204 or 400, store changed only by 204`, async () => {
    const payloadValue = fc.oneof(text(40), fc.integer(), fc.constant(null), fc.boolean(), json([]));
    const payload = fc.dictionary(
      fc.constantFrom(
        'card_id',
        'code',
        'openid',
        'unionid',
        'outer_str',
        'event_type',
        'event_time',
        'activate_scene',
      ),
      fc.oneof(
        { weight: 3, arbitrary: payloadValue },
        { weight: 1, arbitrary: fc.constant(h.creds.cardId) },
        { weight: 1, arbitrary: fc.stringMatching(/^\d{12}$/) },
      ),
      { maxKeys: 8 },
    );
    const plaintext = fc.oneof(
      { weight: 4, arbitrary: payload.map((p) => JSON.stringify(p)) },
      {
        weight: 1,
        arbitrary: fc.oneof(
          text(100),
          json([]).map((v) => JSON.stringify(v) ?? 'null'),
        ),
      },
    );
    const eventType = fc.constantFrom(
      'MEMBERCARD.ACCEPT_CARD',
      'MEMBERCARD.ACTIVATE_CARD',
      'MEMBERCARD.USERCARD_MANAGE',
      'MEMBERCARD.OTHER',
    );
    await fc.assert(
      fc.asyncProperty(plaintext, eventType, fc.oneof(fc.uuid(), text(64)), async (plain, type, id) => {
        const envelope = JSON.stringify({
          id,
          create_time: new Date().toISOString(),
          event_type: type,
          resource_type: 'encrypt-resource',
          summary: 'fuzz',
          resource: encryptResource(plain, h.creds.apiv3Key),
        });
        const before = await snaps.take(['rate_buckets']);
        const reply = await send(
          `${h.url}/member-card/notify`,
          'POST',
          signHeaders(envelope, signingKey, serial),
          Buffer.from(envelope),
        );
        const afterAll = await snaps.take(['rate_buckets']);
        assert.ok([204, 400].includes(reply.status), `${reply.status} ${reply.text}`);
        const changed = JSON.stringify(afterAll) !== JSON.stringify(before);
        if (reply.status === 400) {
          assert.equal(JSON.parse(reply.text).code, 'NOTIFICATION_UNREADABLE');
          assert.equal(changed, false);
          return;
        }
        // Applied: its id is recorded; any binding is for our card and holds only storable text.
        const rows = (afterAll['notifications'] ?? []).map((r) => JSON.parse(r) as { id: string });
        assert.ok(rows.some((r) => r.id === id));
        const bindings = (afterAll['bindings'] ?? []).map(
          (r) => JSON.parse(r) as { card_id: string; code: string; unionid: string | null },
        );
        for (const b of bindings) {
          assert.equal(b.card_id, h.creds.cardId);
          // eslint-disable-next-line no-control-regex
          assert.ok(![b.code, b.unionid].some((v) => v !== null && /[\u0000-\u001f]/.test(v)));
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('after the random ones, a genuine notification is still applied', async () => {
    const user = await h.sandbox.newUser();
    const { code } = await h.giveCard(user);
    assert.equal((await h.store.getBinding(h.creds.cardId, code))?.status, 'active');
  });
});
