// A separate process for the lazy-loading test: which drivers (better-sqlite3, pg, ioredis) are
// loaded after importing the store, after making one store of each engine, and after init(), and
// which SQLite driver the store chose. They are CommonJS packages, so whatever loaded them left
// them in require.cache (node:sqlite is built in: it never appears there).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const loaded = (): string[] => {
  const names = Object.keys(require.cache).flatMap(
    (path) => /node_modules[\\/](pg|ioredis|better-sqlite3)[\\/]/.exec(path)?.[1] ?? [],
  );
  return [...new Set(names)].sort();
};

const seen: Record<string, string[]> = {};
const { createStore } = await import('../../src/store/index.js');
type SqliteStore = import('../../src/store/index.js').SqliteStore;
seen['imported'] = loaded();
const stores = [
  createStore('memory:'),
  createStore('sqlite::memory:'),
  createStore('postgres://nobody@127.0.0.1:1/none'),
  createStore({ engine: 'redis', url: 'redis://127.0.0.1:1' }),
];
seen['created'] = loaded();
const [memory, sqlite] = stores as [(typeof stores)[0], SqliteStore];
await memory.init();
seen['memory'] = loaded();
await sqlite.init();
seen['sqlite'] = loaded();
seen['sqliteDriver'] = [sqlite.driver ?? 'none'];
await Promise.all(stores.map((s) => s.close()));
process.stdout.write(JSON.stringify(seen));
