// The published shape: ESM and CommonJS builds with types, and the command line, run for real.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LASTING_CREDENTIALS } from '../support/sandbox.js';
import { tempDir } from '../support/temp.js';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** Starts the command line and resolves with its first stdout lines once `ready` matches. */
function run(args: string[], env: Record<string, string>, ready: RegExp) {
  const child = spawn(process.execPath, [join(root, 'bin', 'wechat-membercard.js'), ...args], {
    cwd: env.CWD ?? root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in time; stdout: ${out} stderr: ${err}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}; stdout: ${out} stderr: ${err}`));
    });
  });
  const stop = () =>
    new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) return resolve(child.exitCode);
      child.removeAllListeners('exit');
      child.on('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  return { child, started, stop, stderr: () => err };
}

describe('the package as published', () => {
  before(() => {
    const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stdout + build.stderr);
  });

  test('ESM and CommonJS entry points export the same API, with types for both', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const entries: Record<string, string[]> = {
      '.': ['memberCard', 'wechatLogin', 'createStore', 'MemberCardError', 'OptionsError'],
      './server': ['startServer', 'runServeCommand'],
      './sandbox': ['startSandbox', 'wechatpayOptions', 'serveEnvironment', 'runSandboxCommand'],
    };
    for (const [subpath, names] of Object.entries(entries)) {
      const esm = await import(join(root, pkg.exports[subpath].import.default));
      const cjs = createRequire(join(root, 'package.json'))(join(root, pkg.exports[subpath].require.default));
      for (const name of names) {
        assert.equal(typeof esm[name], 'function', `esm ${subpath} ${name}`);
        assert.equal(typeof cjs[name], 'function', `cjs ${subpath} ${name}`);
      }
      assert.deepEqual(
        Object.keys(esm).sort(),
        Object.keys(cjs)
          .filter((k) => k !== '__esModule')
          .sort(),
        subpath,
      );
      for (const condition of ['import', 'require']) {
        assert.ok(existsSync(join(root, pkg.exports[subpath][condition].types)), `${subpath} ${condition} types`);
      }
    }
    // The root is the middleware only.
    const root_ = await import(join(root, pkg.exports['.'].import.default));
    for (const name of ['startServer', 'startSandbox', 'SqliteStore', 'PostgresStore', 'RedisStore']) {
      assert.equal(root_[name], undefined, `the root must not export ${name}`);
    }
    assert.equal(JSON.parse(readFileSync(join(root, 'dist/cjs/package.json'), 'utf8')).type, 'commonjs');
  });

  test('importing the root loads neither Koa, the sandbox nor a store driver (ESM and CommonJS)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const loaded = (subpath: string, kind: 'esm' | 'cjs'): string[] => {
      const { dir, remove } = tempDir('loaded');
      try {
        const file = join(root, pkg.exports[subpath][kind === 'esm' ? 'import' : 'require'].default);
        const probe = join(root, 'test', 'package', 'loaded-modules.mjs');
        const out = spawnSync(process.execPath, [probe, file, kind, join(dir, 'log')], { encoding: 'utf8' });
        assert.equal(out.status, 0, out.stderr);
        return JSON.parse(out.stdout) as string[];
      } finally {
        remove();
      }
    };
    const heavy = /\/node_modules\/(koa|better-sqlite3|pg|ioredis)\/|\/dist\/(esm|cjs)\/(sandbox|server)\//;
    for (const kind of ['esm', 'cjs'] as const) {
      const modules = loaded('.', kind);
      assert.ok(
        modules.some((m) => m.includes('/dist/')),
        `${kind}: the probe saw our own modules`,
      );
      assert.deepEqual(
        modules.filter((m) => heavy.test(m)),
        [],
        `${kind}: the root loaded these`,
      );
      // The probe can see what it looks for: the server entry does load Koa.
      assert.ok(
        loaded('./server', kind).some((m) => /\/node_modules\/koa\//.test(m)),
        `${kind}: ./server loads koa`,
      );
    }
  });

  test('`wechat-membercard sandbox` prints its credentials as the first line and reuses its keys', async () => {
    const { dir: state, remove } = tempDir('cli');
    try {
      const first = run(['sandbox', '--port', '0', '--state', state], {}, /\n/);
      const creds = JSON.parse((await first.started).split('\n')[0] as string);
      for (const key of ['baseURL', ...LASTING_CREDENTIALS]) assert.ok(creds[key], `credentials.${key}`);
      assert.deepEqual(JSON.parse(readFileSync(join(state, 'sandbox.json'), 'utf8')), creds);
      const health = await fetch(new URL('v3/marketing/membercard-open/callback', creds.baseURL));
      assert.equal(health.status, 401, 'an unsigned request is refused');
      assert.equal(await first.stop(), 0);
      const second = run(['sandbox', '--port', '0', '--state', state], {}, /\n/);
      const again = JSON.parse((await second.started).split('\n')[0] as string);
      assert.equal(again.serial, creds.serial);
      assert.equal(again.apiv3Key, creds.apiv3Key);
      await second.stop();
      const bad = spawnSync(process.execPath, [join(root, 'bin', 'wechat-membercard.js'), 'sandbox', '--port', 'abc'], {
        encoding: 'utf8',
      });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /--port/);
    } finally {
      remove();
    }
  });

  test('`wechat-membercard serve` with no settings serves against the embedded sandbox', async () => {
    const { dir: cwd, remove } = tempDir('serve');
    try {
      const serve = run(['serve'], { CWD: cwd, PORT: '0', SANDBOX_PORT: '0' }, /4\. Change its background.*\n.*\n/);
      const out = await serve.started;
      const url = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      assert.ok(url, out);
      assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
      // Paste the walkthrough's commands into a shell, as a newcomer would.
      const script = out
        .split('\n')
        .filter((l) => l && !l.startsWith('#') && /^(CODE|TOKEN)=|^curl/.test(l))
        .join('\n');
      const shell = spawnSync('bash', ['-c', `set -e\n${script}`], { encoding: 'utf8' });
      assert.equal(shell.status, 0, shell.stderr);
      assert.match(shell.stdout, /"balance":8888/);
      assert.match(shell.stdout, /"background_picture_url":"https:\/\/wxpaylogo\.qpic\.cn\/sandbox\/bg-forest\.png"/);
      assert.ok(existsSync(join(cwd, 'data', 'membercard.db')), 'the embedded SQLite store is the default');
      assert.equal(await serve.stop(), 0);
    } finally {
      remove();
    }
  });

  test('`wechat-membercard serve` with a partial configuration stops, naming the setting', () => {
    const result = spawnSync(process.execPath, [join(root, 'bin', 'wechat-membercard.js'), 'serve'], {
      encoding: 'utf8',
      env: { ...process.env, WECHATPAY_MCHID: '1900000109' },
    });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /WECHATPAY_SERIAL is not set/);
    assert.equal(result.stderr.includes('    at '), false, 'no stack trace');
  });
});
