// The component's pure parts, loaded from the compiled plugin: when a card-opening ticket is stale,
// how the component spaces its looks after the user comes back, and how failures get their kind.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { PLUGIN } from './simulator.js';

const require = createRequire(import.meta.url);
const lib = (name: string) => require(join(PLUGIN, 'lib', `${name}.js`)) as Record<string, any>;
const openCard = lib('open-card');
const backoff = lib('backoff');
const errors = lib('errors');

const MINUTE = 60_000;
const answer = (expiresAt?: string) => ({
  appId: 'wxeb490c6f9b154ef9',
  path: 'pages/card_open/card_open',
  extraData: { outer_str: 'x' },
  ...(expiresAt ? { expiresAt } : {}),
});

test('a ticket keeps the back end’s expiry; it is fresh until 5 minutes before it, then refetched', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const ticket = openCard.ticketFrom(answer('2025-01-01T00:30:00Z'), now);
  assert.deepEqual(ticket.params, {
    appId: 'wxeb490c6f9b154ef9',
    path: 'pages/card_open/card_open',
    envVersion: 'release',
    extraData: { outer_str: 'x' },
  });
  assert.equal(ticket.expiresAt, now + 30 * MINUTE);
  assert.equal(openCard.isFresh(ticket, now + 24 * MINUTE), true);
  assert.equal(openCard.isFresh(ticket, now + 25 * MINUTE), false);
  assert.equal(openCard.refetchIn(ticket, now), 25 * MINUTE);
  assert.equal(openCard.refetchIn(ticket, now + 26 * MINUTE), 5000, 'never a tight loop');
});

test('a short-lived ticket is fresh for the first half of its life; no expiry means the default 30 minutes', () => {
  const now = 1_000_000;
  const short = openCard.ticketFrom(answer(new Date(now + 2 * MINUTE).toISOString()), now);
  assert.equal(openCard.isFresh(short, now + MINUTE - 1), true);
  assert.equal(openCard.isFresh(short, now + MINUTE), false);
  const old = openCard.ticketFrom(answer(), now);
  assert.equal(old.expiresAt, now + 30 * MINUTE);
});

test('after the user comes back: looks at 0, 1, 3, 6, 11, 19, 27 and 30 s, then stops', () => {
  const looks = [0];
  for (let attempt = 0; ; attempt += 1) {
    const delay = backoff.nextDelay(attempt, looks.at(-1), backoff.DEFAULT_CONFIRM_WINDOW_MS);
    if (delay === undefined) break;
    looks.push((looks.at(-1) as number) + delay);
  }
  assert.deepEqual(looks, [0, 1000, 3000, 6000, 11000, 19000, 27000, 30000]);
});

test('failures get a kind from what they carry: a wx errMsg, a host’s { kind: "login" }, anything', () => {
  const network = errors.toMemberCardError({ errMsg: 'request:fail timeout' }, 'network', 'NETWORK');
  assert.deepEqual([network.kind, network.code, network.message], ['network', 'NETWORK', 'request:fail timeout']);
  assert.equal(errors.kindOf({ kind: 'login' }), 'login');
  assert.equal(errors.kindOf({ kind: 'something else' }), undefined);
  assert.equal(errors.kindOf(new Error('plain')), undefined);
  const unexpected = errors.asMemberCardError('boom');
  assert.deepEqual([unexpected.kind, unexpected.code, unexpected.message], ['http', 'UNEXPECTED', 'boom']);
  const ours = errors.memberCardError('unauthenticated', 'UNAUTHENTICATED', 'Log in first.', 401);
  assert.equal(errors.asMemberCardError(ours), ours);
});

test('top-ups: the offers as tiles, a typed amount read in yuan inside the range, the host’s outcome read back', () => {
  const topup = lib('topup');
  const offers = {
    currency: 'CNY',
    amounts: [
      { amount: 1000, bonus: 0 },
      { amount: 10050, bonus: 1000 },
    ],
    bonuses: [{ from: 10000, extra: 1000 }],
  };
  assert.deepEqual(topup.topupOptions(offers), [
    { amount: 1000, label: '¥10', bonusText: '' },
    { amount: 10050, label: '¥100.50', bonusText: '送¥10' },
  ]);
  const range = { currency: 'CNY', min: 100, max: 50000, bonuses: [{ from: 10000, extra: 1500 }] };
  assert.equal(topup.rangeText(range), '输入 ¥1 至 ¥500');
  assert.deepEqual(
    ['100', '99.5', '0.99', '501', 'abc', '1.234', ''].map((t) => topup.amountFromInput(range, t)),
    [10000, 9950, 0, 0, 0, 0, 0],
  );
  assert.equal(topup.bonusText(range, 10000), '送¥15');
  assert.equal(topup.bonusText(range, 9999), '');
  assert.deepEqual(
    [
      { errMsg: 'requestPayment:ok' },
      'ok',
      { errMsg: 'requestPayment:fail cancel' },
      { errMsg: 'requestPayment:fail not supported in a plugin' },
      undefined,
    ].map(topup.paymentOutcome),
    ['ok', 'ok', 'cancel', 'fail', 'fail'],
  );
});

test('a stale answer shows “数据更新于 HH:mm” in the phone’s time; a fresh one shows nothing', () => {
  const views = lib('views');
  const asOf = '2025-01-01T06:07:00Z';
  const at = new Date(asOf);
  const hhmm = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
  const card = { card_id: 'c', code: '1', balance: 100, user_card_status: 'EFFECTIVE' };
  assert.equal(views.cardView({ card, editable: {}, stale: true, asOf }).staleNote, `数据更新于 ${hhmm}`);
  assert.equal(views.cardView({ card, editable: {} }).staleNote, '');
  assert.equal(views.cardView({ card, editable: {}, stale: false, asOf }).staleNote, '');
  assert.equal(views.cardView({ card, editable: {}, stale: true, asOf: 'soon' }).staleNote, '数据更新于 —');
});
