// Notifications as the member-card pages describe them, with the answers they leave open as
// switches: the retry schedule, associated_data, which platform key signs (migration gray release),
// signature probes, and the ACCEPT_CARD / ACTIVATE_CARD payload variants.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { RETRY_SCHEDULES } from '../../src/sandbox/index.js';
import { NotifyReceiver, type Delivery } from '../support/notify-receiver.js';
import { decryptResource, oracleFor, type WechatpayOracle } from '../support/wechatpay-oracle.js';
import { TestSandbox } from '../support/sandbox.js';
import { waitFor } from '../support/poll.js';

interface Row {
  id: string;
  attempts: number;
  delivered: boolean;
  abandoned: boolean;
}

async function row(sb: TestSandbox, id: string): Promise<Row | undefined> {
  return ((await sb.controlReply('GET', 'notifications')).body.data as Row[]).find((n) => n.id === id);
}

async function giveCard(sb: TestSandbox, extra: Record<string, unknown> = {}): Promise<{ code: string; id: string }> {
  const u = await sb.controlReply('POST', 'users', {});
  const c = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
    unionid: u.body.unionid,
    ...extra,
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  return { code: String(c.body.code), id: String(c.body.notification_id) };
}

describe('sandbox: notification retries, keys and payloads', () => {
  let sb: TestSandbox;
  let receiver: NotifyReceiver;
  let oracle: WechatpayOracle;

  /** Verified with the independent oracle (both platform keys trusted), then decrypted. */
  function open(d: Delivery): { verdict: ReturnType<WechatpayOracle['verify']>; envelope: any; payload: any } {
    const verdict = oracle.verify(NotifyReceiver.headersOf(d), d.body);
    const envelope = JSON.parse(d.body);
    return { verdict, envelope, payload: decryptResource(envelope.resource, sb.credentials.apiv3Key) };
  }

  before(async () => {
    sb = await TestSandbox.start({ platformMode: 'migrating', retryFactor: 0.001, notifyTimeoutMs: 300 });
    oracle = oracleFor(sb.credentials);
    receiver = new NotifyReceiver();
    const url = await receiver.listen();
    const set = await oracleFor(sb.credentials).request('PATCH', '/v3/marketing/membercard-open/callback', {
      body: { notify_url: url },
    });
    assert.equal(set.status, 200);
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.statuses = [];
  });
  afterEach(async () => {
    await sb.controlReply('PUT', 'behaviour', {});
    await sb.controlReply('DELETE', 'faults');
  });
  after(async () => {
    await sb.close();
    await receiver.close();
  });

  it('member-card schedule (default): 11 deliveries in all, 60 s apart (scaled), then abandoned', async () => {
    assert.deepEqual(RETRY_SCHEDULES.membercard, Array(10).fill(60));
    receiver.statuses = Array(20).fill(500);
    const { id } = await giveCard(sb);
    const done = await waitFor('the notification', 5000, async () => {
      const r = await row(sb, id);
      return r?.abandoned ? r : undefined;
    });
    assert.equal(done.attempts, 11);
    assert.equal(done.delivered, false);
    assert.equal(receiver.received.length, 11);
    const bodies = new Set(receiver.received.map((d) => d.body));
    assert.equal(bodies.size, 1, 'the same notification every time');
  });

  it('payment schedule (switch): 16 deliveries in all', async () => {
    const fast = await TestSandbox.start({ retryFactor: 0.00001, behaviour: { retrySchedule: 'payment' } });
    const r2 = new NotifyReceiver();
    try {
      await oracleFor(fast.credentials).request('PATCH', '/v3/marketing/membercard-open/callback', {
        body: { notify_url: await r2.listen() },
      });
      r2.statuses = Array(30).fill(503);
      const { id } = await giveCard(fast);
      const done = await waitFor(
        'the notification',
        5000,
        async () => {
          const r = await row(fast, id);
          return r?.abandoned ? r : undefined;
        },
        10_000,
      );
      assert.equal(done.attempts, RETRY_SCHEDULES.payment.length + 1);
      assert.equal(r2.received.length, 16);
    } finally {
      await fast.close();
      await r2.close();
    }
  });

  it('migrating: deliveries alternate between the public key and the certificate; both verify', async () => {
    receiver.statuses = [500, 500];
    const { id } = await giveCard(sb);
    await waitFor('the notification', 5000, async () => ((await row(sb, id))?.delivered ? true : undefined));
    const verdicts = receiver.received.map((d) => open(d).verdict);
    assert.equal(verdicts.length, 3);
    assert.ok(verdicts.every((v) => v.ok));
    const serials = verdicts.map((v) => v.serial);
    const keys = [sb.credentials.publicKeyId, sb.credentials.platformCertificateSerial];
    assert.ok(serials.every((s) => keys.includes(s)));
    assert.notEqual(serials[0], serials[1], 'one key, then the other');
    assert.notEqual(serials[1], serials[2]);
  });

  it('notifyKey forces one key; a notification fault signs with another, or sends a probe', async () => {
    await sb.controlReply('PUT', 'behaviour', { notifyKey: 'certificate' });
    await sb.controlReply('PUT', 'faults', [
      { notification: true, signature_probe: true, times: 1 },
      { notification: true, sign_with: 'publicKey', times: 2 },
    ]);
    receiver.statuses = [401, 401];
    const { id } = await giveCard(sb);
    await waitFor('the notification', 5000, async () => ((await row(sb, id))?.delivered ? true : undefined));
    const verdicts = receiver.received.map((d) => open(d).verdict);
    assert.deepEqual(
      verdicts.map((v) => [v.ok, v.reason, v.serial]),
      [
        [false, 'probe', sb.credentials.publicKeyId],
        [true, undefined, sb.credentials.publicKeyId],
        [true, undefined, sb.credentials.platformCertificateSerial],
      ],
    );
    assert.match(String(receiver.received[0]?.headers['wechatpay-signature']), /^WECHATPAY\/SIGNTEST\//);
  });

  for (const [value, expected] of [
    ['membercard', 'membercard'],
    ['empty', ''],
    ['absent', undefined],
  ] as const) {
    it(`associatedData ${value}: associated_data is ${JSON.stringify(expected)}, and it decrypts`, async () => {
      await sb.controlReply('PUT', 'behaviour', { associatedData: value });
      const { code, id } = await giveCard(sb);
      await waitFor('the notification', 5000, async () => ((await row(sb, id))?.delivered ? true : undefined));
      const { envelope, payload } = open(receiver.received[0] as Delivery);
      assert.equal(envelope.resource.associated_data, expected);
      assert.equal('associated_data' in envelope.resource, expected !== undefined);
      assert.equal(payload.code, code);
    });
  }

  it('ACCEPT_CARD variants: RECOVER, without outer_str, without code; ACTIVATE_CARD scenes', async () => {
    const recover = await giveCard(sb, { event_type: 'RECOVER' });
    await giveCard(sb, { omit_code: true, outer_str: 'o-1' });
    await waitFor('the notification', 5000, async () => (receiver.received.length >= 2 ? true : undefined));
    const payloads = receiver.received.map((d) => open(d).payload);
    const first = payloads.find((p) => p.code === recover.code);
    assert.equal(first?.event_type, 'RECOVER');
    assert.equal('outer_str' in first, false);
    const second = payloads.find((p) => p.outer_str === 'o-1');
    assert.equal('code' in second, false);
    assert.equal(second.event_type, 'NEW_ACTIVATE');
    for (const key of ['card_id', 'event_time', 'openid']) assert.ok(second[key], key);

    const events = `cards/${sb.credentials.cardId}/codes/${recover.code}/events`;
    const bad = await sb.controlReply('POST', events, { event_type: 'MEMBER_CARD_ACTIVATE', activate_scene: 'X' });
    assert.equal(bad.status, 400);
    assert.equal(
      (await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, { event_type: 'X' })).status,
      400,
    );
    receiver.received.length = 0;
    await sb.controlReply('POST', events, { event_type: 'MEMBER_CARD_ACTIVATE' });
    await sb.controlReply('POST', events, { event_type: 'MEMBER_CARD_ACTIVATE', activate_scene: 'RECOVER' });
    await waitFor('the notification', 5000, async () => (receiver.received.length >= 2 ? true : undefined));
    const scenes = receiver.received.map((d) => open(d).payload.activate_scene).sort();
    assert.deepEqual(scenes, ['NEW_ACTIVATE', 'RECOVER']);
  });
});
