import { createHash } from 'node:crypto';
import type { Client, Pool } from 'pg';
import { backoff, decodeInvalidation, encodeInvalidation } from './bus-message.js';
import { loadPgClient } from './drivers.js';
import type { InvalidationSubscriber } from './types.js';

/**
 * The cache bus over PostgreSQL LISTEN/NOTIFY (issue 15). NOTIFY goes through the store's pool;
 * LISTEN needs a connection that stays open, so it gets a dedicated pg Client (a pooled one would
 * be handed back and lose it), reconnected with back-off when it drops.
 */

/** One channel per schema (channels are database-wide; schemas are how instances group). */
export function invalidationChannel(schema: string): string {
  return `membercard_inv_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
}

/** The listener's application_name: tells it apart in pg_stat_activity. */
export const busApplicationName = (schema: string): string => `membercard-bus:${schema}`.slice(0, 63);

export async function publishPostgres(pool: Pool, schema: string, cardId: string, code: string): Promise<void> {
  await pool.query('SELECT pg_notify($1, $2)', [invalidationChannel(schema), encodeInvalidation(cardId, code)]);
}

export function subscribePostgres(
  poolOf: () => Promise<Pool>,
  schema: string,
  subscriber: InvalidationSubscriber,
): () => Promise<void> {
  const channel = invalidationChannel(schema);
  let current: Client | undefined;
  let closed = false;
  let up = false;
  let retry: NodeJS.Timeout | undefined;
  const state = (value: boolean) => {
    if (value === up) return;
    up = value;
    subscriber.live(value);
  };
  const connect = async (attempt: number): Promise<void> => {
    retry = undefined;
    if (closed) return;
    let client: Client | undefined;
    try {
      const pool = await poolOf();
      const PgClient = await loadPgClient();
      client = new PgClient({ ...pool.options, application_name: busApplicationName(schema) });
      const mine = client;
      // An error ends the connection ('end' follows): that is where we reconnect.
      mine.on('error', () => {});
      mine.on('notification', (message) => {
        if (message.channel !== channel || !message.payload) return;
        const decoded = decodeInvalidation(message.payload);
        if (decoded) subscriber.invalidated(...decoded);
      });
      mine.on('end', () => {
        if (current !== mine) return;
        current = undefined;
        state(false);
        if (!closed) retry = setTimeout(() => void connect(0), backoff(0));
      });
      await mine.connect();
      await mine.query(`LISTEN "${channel}"`);
      if (closed) {
        await mine.end();
        return;
      }
      current = mine;
      state(true);
    } catch {
      await client?.end().catch(() => undefined);
      state(false);
      if (!closed) retry = setTimeout(() => void connect(attempt + 1), backoff(attempt));
    }
  };
  void connect(0);
  return async () => {
    closed = true;
    if (retry) clearTimeout(retry);
    state(false);
    const client = current;
    current = undefined;
    await client?.end().catch(() => undefined);
  };
}
