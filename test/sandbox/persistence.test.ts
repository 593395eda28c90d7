// State and keys survive a restart; the command line starts, reports and stops cleanly.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseSandboxArgs } from '../../src/sandbox/cli.js';
import { startSandbox, type SandboxCredentials } from '../../src/sandbox/index.js';
import { waitFor } from '../support/poll.js';
import { LASTING_CREDENTIALS, sandboxProcess, TestSandbox } from '../support/sandbox.js';
import { tempDir, type TempDir } from '../support/temp.js';
import { api } from './client.js';

const folders: TempDir[] = [];
/** A state folder of the test's own, removed after the file. */
const stateFolder = (): string => {
  const folder = tempDir('sandbox-state');
  folders.push(folder);
  return folder.dir;
};
after(() => folders.forEach((f) => f.remove()));

describe('sandbox: state survives a restart', () => {
  it('same keys, same cards, applied out_request_nos, login codes, notify URL and pending notifications', async () => {
    const stateDir = stateFolder();
    const first = await TestSandbox.start({ stateDir });
    const { person, code, notification_id: notificationId } = await first.personWithCard({ balance: 100 });
    const c1 = first.credentials;
    const body = {
      balance_information: { before_balance: 100, add_balance: 5, balance: 105 },
      out_request_no: 'persist-1',
    };
    await api(c1).patch('/cards/{card_id}/codes/{code}', body, { card_id: c1.cardId, code });
    const jsCode = await first.loginCode(person);
    await first.close();

    const onDisk = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { cards: unknown[] };
    assert.equal(onDisk.cards.length, 1);
    assert.equal(existsSync(join(stateDir, 'sandbox.json')), true);

    const second = await TestSandbox.start({ stateDir });
    try {
      const c2 = second.credentials;
      for (const k of LASTING_CREDENTIALS) assert.equal(c2[k], c1[k], k);
      // The old client's keys still work against the new process (only the URL changed).
      const card = await api({ ...c1, baseURL: c2.baseURL }).get('/cards/{card_id}/codes/{code}', {
        card_id: c2.cardId,
        code,
      });
      assert.equal((card.data as { balance: number }).balance, 105);
      const replay = await api(c2).patch('/cards/{card_id}/codes/{code}', body, { card_id: c2.cardId, code });
      assert.equal(replay.status, 204);
      assert.equal((await second.card(code)).balance, 105, 'the replay was remembered');
      const params = new URLSearchParams({
        appid: c2.miniProgramAppid,
        secret: c2.miniProgramSecret,
        js_code: jsCode,
        grant_type: 'authorization_code',
      });
      const session = (await (await fetch(new URL(`sns/jscode2session?${params.toString()}`, second.url))).json()) as {
        openid?: string;
      };
      assert.equal(session.openid, person.mp_openid);
      const notes = (await second.control('GET', 'notifications')).data as Array<{
        id: string;
        delivered: boolean;
      }>;
      assert.deepEqual(
        notes.map((n) => [n.id, n.delivered]),
        [[notificationId, false]],
        'still pending',
      );
      const saved = JSON.parse(readFileSync(join(stateDir, 'sandbox.json'), 'utf8')) as SandboxCredentials;
      assert.equal(saved.baseURL, c2.baseURL, 'sandbox.json describes the running instance');
    } finally {
      await second.close();
    }
  });

  it('starts in certificate mode on a state folder made in public-key mode', async () => {
    const stateDir = stateFolder();
    const a = await startSandbox({ stateDir });
    await a.close();
    const b = await startSandbox({ stateDir, platformMode: 'certificate' });
    try {
      assert.equal(b.credentials.mchid, a.credentials.mchid);
      assert.ok(b.credentials.platformCertificateSerial);
      assert.equal((await api(b.credentials).get('/callback')).status, 200);
    } finally {
      await b.close();
    }
  });

  it('without a stateDir, uses a fresh temporary folder and removes it on close()', async () => {
    const a = await startSandbox();
    const b = await startSandbox();
    assert.notEqual(a.credentials.privateKey, b.credentials.privateKey);
    assert.notEqual(a.credentials.mchid + a.credentials.apiv3Key, b.credentials.mchid + b.credentials.apiv3Key);
    assert.equal(existsSync(a.credentials.privateKey), true);
    await a.close();
    await b.close();
    assert.equal(existsSync(a.credentials.privateKey), false);
  });

  it('names the bad option', async () => {
    await assert.rejects(startSandbox({ port: -1 }), /port/);
    await assert.rejects(startSandbox({ retryFactor: Number.NaN }), /retryFactor/);
    await assert.rejects(startSandbox({ platformMode: 'x' as 'publicKey' }), /platformMode/);
  });
});

describe('sandbox: command line', () => {
  it('parses flags and names a bad one', () => {
    assert.deepEqual(parseSandboxArgs([]), { port: 3100, host: '127.0.0.1', stateDir: './.sandbox' });
    assert.deepEqual(
      parseSandboxArgs([
        '--port',
        '0',
        '--host=0.0.0.0',
        '--state',
        '/tmp/x',
        '--certificate',
        '--retry-factor',
        '0.5',
      ]),
      { port: 0, host: '0.0.0.0', stateDir: '/tmp/x', platformMode: 'certificate', retryFactor: 0.5 },
    );
    assert.throws(() => parseSandboxArgs(['--prot', '1']), /--prot/);
    assert.throws(() => parseSandboxArgs(['--port']), /--port/);
    assert.throws(() => parseSandboxArgs(['--port', 'abc']), /--port/);
    assert.throws(() => parseSandboxArgs(['--retry-factor', '-1']), /--retry-factor/);
  });

  it('prints the credentials as the first stdout line and stops on SIGTERM', async () => {
    const stateDir = stateFolder();
    const { sandbox, child, exited } = await sandboxProcess(['--port', '0', '--state', stateDir]);
    const credentials = sandbox.credentials;
    assert.match(credentials.baseURL, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(credentials.privateKey, join(stateDir, 'apiclient_key.pem'));
    assert.deepEqual(JSON.parse(readFileSync(join(stateDir, 'sandbox.json'), 'utf8')), credentials);
    const res = await waitFor('the sandbox to answer', 5000, () => api(credentials).get('/callback'));
    assert.equal(res.status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });
});
