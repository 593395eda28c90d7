// A host's own store objects, each with one role only: memberCard() on a card store without
// sessions, wechatLogin() on a session store without anything else (not even init or close), end
// to end over real HTTP against the sandbox. Neither factory may call, or require, more.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Koa from 'koa';
import { hashToken, wechatLogin, type WechatLogin } from '../../src/login/index.js';
import { memberCard, type MemberCard } from '../../src/member-card.js';
import { MemoryStore, type CardStore, type Session, type SessionStore } from '../../src/store/index.js';
import { methodsOf } from '../../src/store/roles.js';
import { call, listen, type Listening } from '../support/http.js';
import { waitFor } from '../support/poll.js';
import { TestSandbox } from '../support/sandbox.js';

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
  const inner = new MemoryStore();
  const cardCalls: string[] = [];
  const sessions = new HostSessions();
  let sandbox: TestSandbox;
  let cards: MemberCard;
  let login: WechatLogin;
  let server: Listening;

  before(async () => {
    sandbox = await TestSandbox.start();
    const creds = sandbox.credentials;
    cards = memberCard(
      sandbox.cardOptions(hostCardStore(inner, cardCalls), { cache: { ttl: 0 }, prefix: '/member-card' }),
    );
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
    server = await listen(app.callback());
    await cards.client.setNotifyUrl(`${server.url}/member-card/notify`);
  });

  after(async () => {
    await server?.close();
    await cards?.close();
    await login?.close();
    await inner.close();
    await sandbox?.close();
  });

  it('logs in through the session store, and reads the card through the card store', async () => {
    const user = await sandbox.newUser();
    const given = await sandbox.giveCard(user);
    // WeChat Pay's ACCEPT_CARD notification reaches /notify and binds the code in the card store.
    await waitFor('the notification to be applied', 10_000, () => inner.getNotification(given.notification_id));
    const token = await sandbox.login(`${server.url}/login`, user);
    assert.deepEqual([...sessions.sessions.keys()], [hashToken(token)], 'the session is in the host object');

    const mine = await call('GET', `${server.url}/member-card`, { token });
    assert.equal(mine.status, 200, mine.text);
    assert.equal(mine.body.card.code, given.code);

    const out = await call('POST', `${server.url}/logout`, { token });
    assert.equal(out.status, 204);
    assert.equal(sessions.sessions.size, 0);
    const gone = await call('GET', `${server.url}/member-card`, { token });
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
