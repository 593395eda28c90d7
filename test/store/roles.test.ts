// A host's own store objects, each with one role only: memberCard() on a card store without
// sessions, wechatLogin() on a session store without anything else (not even init or close), end
// to end over real HTTP against the sandbox. Neither factory may call, or require, more.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import { hashToken, wechatLogin, type WechatLogin } from '../../src/login/index.js';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import { startSandbox, wechatpayOptions, type Sandbox } from '../../src/sandbox/index.js';
import { MemoryStore, type CardStore, type Session, type SessionStore } from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';

/** The host's session store: a Map, with the calls it received. */
class HostSessions implements SessionStore {
  readonly sessions = new Map<string, Session>();
  readonly calls: string[] = [];
  async putSession(tokenHash: string, session: Session): Promise<void> {
    this.calls.push('putSession');
    this.sessions.set(tokenHash, { ...session });
  }
  async getSession(tokenHash: string): Promise<Session | undefined> {
    this.calls.push('getSession');
    const session = this.sessions.get(tokenHash);
    return session && session.expiresAt > Date.now() ? { ...session } : undefined;
  }
  async deleteSession(tokenHash: string): Promise<void> {
    this.calls.push('deleteSession');
    this.sessions.delete(tokenHash);
  }
}

/** The host's card store: only the card methods of a real store, each call recorded. */
function hostCardStore(inner: MemoryStore, calls: string[]): CardStore {
  const methods = methodsOf('card').map((name) => {
    const method = (inner as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
    assert.ok(method);
    return [name, (...args: unknown[]) => (calls.push(name), method.apply(inner, args))] as const;
  });
  return Object.fromEntries(methods) as unknown as CardStore;
}

describe("a host's store objects, one role each", () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'membercard-roles-'));
  const inner = new MemoryStore();
  const cardCalls: string[] = [];
  const sessions = new HostSessions();
  let sandbox: Sandbox;
  let cards: MemberCard;
  let login: WechatLogin;
  let server: Server;
  let url: string;

  const control = async (path: string, body: unknown): Promise<any> => {
    const response = await fetch(new URL(path, sandbox.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(response.ok, `${path} → ${response.status}`);
    return response.json();
  };

  before(async () => {
    sandbox = await startSandbox({ stateDir, retryFactor: 0.0005 });
    const creds = sandbox.credentials;
    cards = memberCard({
      cardId: creds.cardId,
      appid: creds.appid,
      wechatpay: { ...wechatpayOptions(creds), timeout: 1500, retries: 1 },
      store: hostCardStore(inner, cardCalls),
      cache: { ttl: 0 },
      prefix: '/member-card',
    });
    login = wechatLogin({
      appid: creds.miniProgramAppid,
      secret: creds.miniProgramSecret,
      baseURL: creds.baseURL,
      store: sessions,
      sessionCacheTtl: 0,
    });
    const app = new Koa();
    app.silent = true;
    app.use(login.middleware()).use(login.routes()).use(cards.routes()).use(cards.allowedMethods());
    server = await new Promise((ok) => {
      const s = app.listen(0, '127.0.0.1', () => ok(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await cards.client.setNotifyUrl(`${url}/member-card/notify`);
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((ok) => server?.close(ok));
    await cards?.close();
    await login?.close();
    await inner.close();
    await sandbox?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('logs in through the session store, and reads the card through the card store', async () => {
    const creds = sandbox.credentials;
    const user = await control('sandbox/users', {});
    const given = await control(`sandbox/cards/${creds.cardId}/codes`, { unionid: user.unionid });
    // WeChat Pay's ACCEPT_CARD notification reaches /notify and binds the code in the card store.
    for (let i = 0; !(await inner.getNotification(given.notification_id)); i++) {
      assert.ok(i < 500, 'the notification was not delivered');
      await new Promise((r) => setTimeout(r, 20));
    }
    const { js_code } = await control('sandbox/login-codes', { unionid: user.unionid });
    const loggedIn = await fetch(`${url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: js_code }),
    });
    assert.equal(loggedIn.status, 200);
    const { token } = (await loggedIn.json()) as { token: string };
    assert.deepEqual([...sessions.sessions.keys()], [hashToken(token)], 'the session is in the host object');

    const mine = await fetch(`${url}/member-card`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(mine.status, 200, await mine.clone().text());
    assert.equal(((await mine.json()) as { card: { code: string } }).card.code, given.code);

    const out = await fetch(`${url}/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.status, 204);
    assert.equal(sessions.sessions.size, 0);
    const gone = await fetch(`${url}/member-card`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(gone.status, 401);

    assert.deepEqual([...new Set(sessions.calls)].sort(), ['deleteSession', 'getSession', 'putSession']);
    assert.ok(cardCalls.includes('applyNotification') && cardCalls.includes('findBindingByUnionid'));
  });

  it("close() leaves the host's objects alone", async () => {
    await cards.close();
    await login.close();
    assert.equal(cardCalls.includes('close'), false);
    // Still usable by the host.
    await inner.ping();
    await sessions.putSession('h', { openid: 'o', expiresAt: Date.now() + 1000 });
  });
});
