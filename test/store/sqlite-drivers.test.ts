// The SQLite store's two drivers: which one each Node gets, forcing one, one file shared by both
// (in this process where both load, else through a second Node given as MEMBERCARD_TEST_OTHER_NODE),
// and no ExperimentalWarning of node:sqlite in the host's stderr.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { OptionsError } from '../../src/errors.js';
import { createStore, SqliteStore } from '../../src/store/index.js';
import { SQLITE_DRIVERS, type SqliteDriverName } from '../../src/store/sqlite-driver.js';
import { checkBack, firstHalf, secondHalf } from './sqlite-file.js';
import { DEFAULT_DRIVER, driverSkips, HAS_NODE_SQLITE } from './sqlite-drivers.js';

const skips = await driverSkips();
const usable = SQLITE_DRIVERS.filter((d) => skips[d] === undefined);
const OTHER_NODE = process.env['MEMBERCARD_TEST_OTHER_NODE'] || undefined;
const run = promisify(execFile);
const tsx = (script: string, ...args: string[]) => ['--import', 'tsx', join('test', 'store', script), ...args];

describe('SQLite drivers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'membercard-drivers-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`Node ${process.version} runs the store on ${DEFAULT_DRIVER} when no driver is named`, async () => {
    const store = createStore('sqlite::memory:');
    assert.ok(store instanceof SqliteStore);
    await store.init();
    assert.equal(store.driver, DEFAULT_DRIVER);
    await store.close();
  });

  it('the driver named in the options or the URL is the one used', async () => {
    for (const driver of usable) {
      for (const store of [
        createStore({ engine: 'sqlite', filename: ':memory:', driver }),
        createStore(`sqlite::memory:?driver=${driver}`),
      ]) {
        assert.ok(store instanceof SqliteStore);
        await store.init();
        assert.equal(store.driver, driver);
        await store.close();
      }
    }
  });

  it('node:sqlite on a Node without it says which Node it needs', { skip: HAS_NODE_SQLITE }, async () => {
    const store = createStore('sqlite::memory:?driver=node:sqlite');
    await assert.rejects(store.init(), (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      assert.match(err.message, /"node:sqlite" needs Node\.js 22\.13 or later \(this is v\d+\.\d+\.\d+\)/);
      return true;
    });
  });

  const both = usable.length === SQLITE_DRIVERS.length;
  it(
    'a file written by one driver is read and written by the other, in this process',
    { skip: both ? false : `only ${usable.join(', ')} loads on Node ${process.version}` },
    async () => {
      for (const [first, second] of [SQLITE_DRIVERS, [...SQLITE_DRIVERS].reverse()] as SqliteDriverName[][]) {
        const filename = join(dir, `${first}-then-${second}.db`.replace(':', '-'));
        await firstHalf(new SqliteStore({ filename, driver: first }));
        const seen = await secondHalf(new SqliteStore({ filename, driver: second }));
        assert.deepEqual(seen, { unionid: 'u-first', openid: 'o-first', again: false }, `${first} → ${second}`);
        await checkBack(new SqliteStore({ filename, driver: first }));
      }
    },
  );

  it(
    'a file written by one driver is read and written by the other, on another Node',
    { skip: OTHER_NODE ? false : 'set MEMBERCARD_TEST_OTHER_NODE to a Node whose default driver is the other one' },
    async () => {
      const filename = join(dir, 'two-nodes.db');
      await firstHalf(new SqliteStore({ filename }));
      const { stdout } = await run(OTHER_NODE ?? '', tsx('sqlite-file-worker.ts', filename), { timeout: 60_000 });
      const { driver, node, ...seen } = JSON.parse(stdout) as Record<string, unknown>;
      assert.notEqual(driver, DEFAULT_DRIVER, `${String(node)} runs ${String(driver)} too: no second driver tested`);
      assert.deepEqual(seen, { unionid: 'u-first', openid: 'o-first', again: false });
      await checkBack(new SqliteStore({ filename }));
    },
  );

  it('opening the store prints no ExperimentalWarning, and the host’s own warnings still print', async () => {
    const { stdout, stderr } = await run(process.execPath, tsx('warning-probe.ts', 'store'), { timeout: 30_000 });
    assert.equal(stdout, DEFAULT_DRIVER);
    assert.doesNotMatch(stderr, /SQLite/);
    assert.match(stderr, /ExperimentalWarning: the host says hello/);
  });

  it('the filter drops only the one warning, and only during the call', async () => {
    const { stderr } = await run(process.execPath, tsx('warning-probe.ts', 'filter'), { timeout: 30_000 });
    const lines = stderr.split('\n').filter((l) => /Warning/.test(l) && !/--trace-warnings/.test(l));
    assert.deepEqual(
      lines.map((l) => l.replace(/^\(node:\d+\) /, '')),
      [
        'ExperimentalWarning: kept 1: SQLite is an experimental feature and might change at any time',
        'DeprecationWarning: SQLite is an experimental feature and might change at any time',
        'Warning: kept 2: something else entirely',
        'ExperimentalWarning: SQLite is an experimental feature and might change at any time',
      ],
    );
  });
});
