// The store's public face: createStore(), the four engines, their options and the role types.
// Importing it loads no driver: each engine imports its own when it initialises.
export type * from './types.js';
export type {
  MemoryStoreOptions,
  PostgresConnectionOptions,
  PostgresPoolOptions,
  PostgresStoreOptions,
  RedisClientOptions,
  RedisConnectionOptions,
  RedisStoreOptions,
  SqliteStoreOptions,
  StoreEngine,
  StoreOptions,
  StoreSpec,
} from './options.js';
export type { Duration, PruneCounts, RetentionLimits, RetentionOptions } from './retention.js';
export { createStore } from './create-store.js';
export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
export { PostgresStore } from './postgres.js';
export { RedisStore } from './redis.js';
