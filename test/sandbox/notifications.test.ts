// Card notifications: envelope, signature, encryption, retries, pending delivery, events.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Aes, Formatter, Rsa } from 'wechatpay-axios-plugin';
import { listen, type Listening } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';
import { api, type Api } from './client.js';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A merchant's notify endpoint: records every POST and answers with the next queued status. */
class Receiver {
  readonly received: Received[] = [];
  statuses: number[] = [];
  hang = false;
  #listening: Listening | undefined;

  async listen(): Promise<string> {
    this.#listening = await listen((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => {
        this.received.push({ headers: req.headers, body });
        if (this.hang) return; // never answer: the sandbox must time out
        res.writeHead(this.statuses.shift() ?? 204).end();
      });
    });
    return `${this.#listening.url}/notify`;
  }

  /** The n-th delivery (from 0), once it has arrived. */
  nth(n: number): Promise<Received> {
    return waitFor(`delivery #${n}`, 5000, () => this.received[n]);
  }

  async close(): Promise<void> {
    await this.#listening?.close();
  }
}

describe('sandbox: notifications', () => {
  let sb: TestSandbox;
  let client: Api;
  let receiver: Receiver;

  before(async () => {
    sb = await TestSandbox.start({ retryFactor: 0.001, notifyTimeoutMs: 300 });
    client = api(sb.credentials);
    receiver = new Receiver();
    await client.patch('/callback', { notify_url: await receiver.listen() });
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.statuses = [];
    receiver.hang = false;
  });
  after(async () => {
    await sb.close();
    await receiver.close();
  });

  /** Verifies and decrypts one delivery with the plugin's helpers (an independent implementation). */
  function open(r: Received): { envelope: Record<string, unknown>; payload: Record<string, unknown> } {
    const h = r.headers;
    const publicKey = Rsa.from(readFileSync(sb.credentials.publicKey ?? ''), 'public');
    assert.equal(h['wechatpay-serial'], sb.credentials.publicKeyId);
    assert.equal(h['wechatpay-signature-type'], 'WECHATPAY2-SHA256-RSA2048');
    assert.ok(h['request-id']);
    assert.ok(Math.abs(Number(h['wechatpay-timestamp']) - Date.now() / 1000) < 300);
    const message = Formatter.joinedByLineFeed(String(h['wechatpay-timestamp']), String(h['wechatpay-nonce']), r.body);
    assert.equal(
      Rsa.verify(message, String(h['wechatpay-signature']), publicKey),
      true,
      'signature verifies with the platform key',
    );
    const envelope = JSON.parse(r.body) as Record<string, unknown>;
    const resource = envelope.resource as Record<string, string>;
    const plaintext = Aes.AesGcm.decrypt(
      resource.ciphertext ?? '',
      sb.credentials.apiv3Key,
      resource.nonce ?? '',
      resource.associated_data ?? '',
    );
    return { envelope, payload: JSON.parse(plaintext) as Record<string, unknown> };
  }

  it("sends ACCEPT_CARD in WeChat Pay's envelope, signed and encrypted", async () => {
    const { person, code, notification_id: notificationId } = await sb.personWithCard({ outer_str: 'session-abc' });
    await receiver.nth(0);
    const { envelope, payload } = open(receiver.received[0] as Received);
    assert.equal(envelope.id, notificationId);
    assert.match(String(envelope.create_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
    assert.equal(envelope.event_type, 'MEMBERCARD.ACCEPT_CARD');
    assert.equal(envelope.resource_type, 'encrypt-resource');
    const resource = envelope.resource as Record<string, string>;
    assert.equal(resource.original_type, 'membercard');
    assert.equal(resource.algorithm, 'AEAD_AES_256_GCM');
    assert.equal(resource.associated_data, 'membercard');
    assert.match(resource.nonce ?? '', /^[A-Za-z0-9]{12}$/);
    assert.equal(payload.event_type, 'NEW_ACTIVATE');
    assert.equal(payload.card_id, sb.credentials.cardId);
    assert.equal(payload.code, code);
    assert.equal(payload.openid, person.oa_openid, 'the 服务号 openid, not the mini-program one');
    assert.equal(payload.unionid, person.unionid);
    assert.equal(payload.outer_str, 'session-abc');
    assert.match(String(payload.event_time), /\+08:00$/);
    const row = await sb.waitDelivered(notificationId, 5000);
    assert.equal(row.attempts, 1);
  });

  it('retries after a 500 answer, re-signed, same id and body, until delivered', async () => {
    receiver.statuses = [500, 503];
    const { notification_id: notificationId } = await sb.personWithCard();
    const row = await sb.waitDelivered(notificationId, 5000);
    assert.equal(row.attempts, 3);
    assert.equal(row.last_status, 204);
    assert.equal(receiver.received.length, 3);
    const [a, b] = receiver.received as [Received, Received];
    assert.equal(a.body, b.body, 'same body on every attempt');
    assert.notEqual(a.headers['wechatpay-nonce'], b.headers['wechatpay-nonce'], 'fresh nonce each attempt');
    open(b);
  });

  it('retries after a timeout', async () => {
    receiver.hang = true;
    const { notification_id: notificationId } = await sb.personWithCard();
    await receiver.nth(0);
    receiver.hang = false;
    const row = await sb.waitDelivered(notificationId, 5000);
    assert.ok(row.attempts >= 2);
  });

  it('omits the unionid for a person whose mini-program is not on the Open Platform', async () => {
    const { person } = await sb.personWithCard({}, { share_unionid: false });
    assert.ok(person.unionid, 'the control API still returns it');
    await receiver.nth(0);
    const { payload } = open(receiver.received[0] as Received);
    assert.equal('unionid' in payload, false);
  });

  it('sends USERCARD_MANAGE and ACTIVATE_CARD events; a delete marks the card DELETE', async () => {
    const { code } = await sb.personWithCard();
    await receiver.nth(0);
    const base = `cards/${sb.credentials.cardId}/codes/${code}/events`;
    const view = await sb.controlReply('POST', base, { event_type: 'USER_VIEW_MEMBERCARD' });
    assert.equal(view.status, 200);
    await receiver.nth(1);
    const viewed = open(receiver.received[1] as Received);
    assert.equal(viewed.envelope.event_type, 'MEMBERCARD.USERCARD_MANAGE');
    assert.equal(viewed.payload.event_type, 'USER_VIEW_MEMBERCARD');

    await sb.cardEvent(code, { event_type: 'MEMBER_CARD_ACTIVATE', outer_str: 'x1' });
    await receiver.nth(2);
    const activated = open(receiver.received[2] as Received);
    assert.equal(activated.envelope.event_type, 'MEMBERCARD.ACTIVATE_CARD');
    assert.equal(activated.payload.event_type, 'MEMBER_CARD_ACTIVATE');
    assert.equal(activated.payload.outer_str, 'x1');
    assert.ok(activated.payload.activate_scene);

    await sb.cardEvent(code, { event_type: 'USER_DELETE_MEMBERCARD' });
    await receiver.nth(3);
    assert.equal(open(receiver.received[3] as Received).payload.event_type, 'USER_DELETE_MEMBERCARD');
    assert.equal((await sb.card(code)).user_card_status, 'DELETE');

    const bad = await sb.controlReply('POST', base, { event_type: 'USER_DANCE' });
    assert.equal(bad.status, 400);
  });
});

describe('sandbox: notifications without a notify URL', () => {
  it('are kept pending and sent once a notify URL is registered', async () => {
    const sb = await TestSandbox.start();
    const receiver = new Receiver();
    try {
      const { notification_id: notificationId } = await sb.personWithCard();
      const pending = await sb.notification(notificationId);
      assert.equal(pending?.attempts, 0);
      assert.equal(pending?.delivered, false);
      await api(sb.credentials).patch('/callback', { notify_url: await receiver.listen() });
      const row = await sb.waitDelivered(notificationId, 5000);
      assert.equal(row.attempts, 1);
      assert.equal(receiver.received.length, 1);
    } finally {
      await sb.close();
      await receiver.close();
    }
  });

  it('a pending retry does not keep the sandbox alive after close()', async () => {
    // retryFactor 1: the next attempt would be 15 s away; close() must clear that timer.
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const sb = await TestSandbox.start({ retryFactor: 1 });
    const receiver = new Receiver();
    receiver.statuses = [500];
    await api(sb.credentials).patch('/callback', { notify_url: await receiver.listen() });
    const { notification_id: notificationId } = await sb.personWithCard();
    await waitFor('the first attempt', 5000, async () => {
      const n = await sb.notification(notificationId);
      return n && n.attempts >= 1 ? n : undefined;
    });
    assert.ok(timers() > before, 'a retry is scheduled');
    await sb.close();
    await receiver.close();
    assert.equal(timers(), before, 'no sandbox timer left behind');
  });
});
