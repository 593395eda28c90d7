// Client mistakes while sending a body are the client's: a 400 (or nothing, for a request the
// client abandoned), never a 500, never an error-level log, and nothing changes.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startHarness, type Harness } from '../support/harness.js';

interface Sent {
  status: number;
  body: { code?: string };
}

/** A raw request, so the test controls every header and can cut the body short. */
function send(url: string, path: string, method: string, headers: Record<string, string>, body: string): Promise<Sent> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code?: string } }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts a body, then the client disappears before the declared length arrived. */
function abandon(url: string, path: string, method: string, headers: Record<string, string>): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path, method, headers });
    req.on('error', () => resolve());
    req.write('{"code":');
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 50);
  });
}

describe('bodies a client got wrong', () => {
  let h: Harness;
  let token: string;
  let code: string;
  before(async () => {
    h = await startHarness();
    const user = await h.sandbox.newUser();
    code = (await h.giveCard(user)).code;
    token = await h.login(user);
  });
  after(() => h.close());

  const errorLogs = () => h.logs.filter((l) => l.level === 'error');

  test('a Content-Encoding the bytes do not match is a 400 INVALID_REQUEST, and the card is unchanged', async () => {
    const before = await h.sandbox.card(code);
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const headers = {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'content-encoding': encoding,
      };
      const edit = await send(h.url, '/member-card', 'PUT', headers, '{"background_picture_url":"x"}');
      assert.equal(edit.status, 400, encoding);
      assert.equal(edit.body.code, 'INVALID_REQUEST');
      const login = await send(h.url, '/login', 'POST', { ...headers, authorization: '' }, '{"code":"x"}');
      assert.equal(login.status, 400, `login, ${encoding}`);
      assert.equal(login.body.code, 'INVALID_REQUEST');
    }
    const afterwards = await h.sandbox.card(code);
    assert.deepEqual(afterwards, before);
    assert.deepEqual(errorLogs(), []);
  });

  test('an edit from nobody is answered 401 at once, without waiting for its body', async () => {
    const u = new URL(h.url);
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: u.hostname,
        port: u.port,
        path: '/member-card',
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'content-length': '100000' },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('{"background_picture_url":'); // …and the rest never comes
      setTimeout(() => reject(new Error('no answer within 3 s: the server waited for the body')), 3000).unref();
    });
    assert.equal(status, 401);
    assert.ok(Date.now() - started < 1000, `answered after ${Date.now() - started} ms`);
  });

  test('a body cut short (login, edit, notification) logs no error and the server keeps serving', async () => {
    const json = { 'content-type': 'application/json', 'content-length': '200' };
    await abandon(h.url, '/login', 'POST', json);
    await abandon(h.url, '/member-card/notify', 'POST', json);
    await abandon(h.url, '/member-card', 'PUT', { ...json, authorization: `Bearer ${token}` });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(errorLogs(), []);
    assert.equal((await h.api('GET', '/member-card', { token })).status, 200);
  });
});
