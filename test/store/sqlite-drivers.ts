// Which SQLite drivers this Node runs, for the suites that run once per driver. What this Node
// must have is decided from its version alone, so a driver that breaks fails its suite instead
// of skipping it: node:sqlite from Node 22.13 (23.4 on 23), better-sqlite3 where it is the only one.
import { SqliteStore } from '../../src/store/index.js';
import { SQLITE_DRIVERS, type SqliteDriverName } from '../../src/store/sqlite-driver.js';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
export const HAS_NODE_SQLITE = major >= 24 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13);

/** The driver a store takes when none is named. */
export const DEFAULT_DRIVER: SqliteDriverName = HAS_NODE_SQLITE ? 'node:sqlite' : 'better-sqlite3';

/** For each driver: undefined when its suites run here, else why they are skipped. */
export async function driverSkips(): Promise<Record<SqliteDriverName, string | undefined>> {
  const skips = {} as Record<SqliteDriverName, string | undefined>;
  for (const driver of SQLITE_DRIVERS) {
    const required = driver === DEFAULT_DRIVER;
    const store = new SqliteStore({ filename: ':memory:', driver });
    try {
      await store.init();
      skips[driver] = undefined;
    } catch (err) {
      const reason = `${driver} is not usable on Node ${process.version}: ${String(err).split('\n')[0]}`;
      // The default driver is never skipped: its suites run and fail with the real error.
      skips[driver] = required ? undefined : reason;
    } finally {
      await store.close();
    }
  }
  return skips;
}
