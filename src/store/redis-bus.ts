import type { Cluster, Redis } from 'ioredis';
import { decodeInvalidation, encodeInvalidation } from './bus-message.js';
import type { InvalidationSubscriber } from './types.js';

/**
 * The cache bus over Redis pub/sub (issue 15). Publishing uses the store's client; subscribing
 * needs a connection of its own (a subscribed connection runs no other command): a duplicate() of
 * the store's client, single node or Cluster alike. ioredis reconnects it by itself; we subscribe
 * again on each `ready` and say the subscription is live once Redis confirmed it.
 */

type Client = Redis | Cluster;

export const invalidationChannel = (prefix: string): string => `${prefix}cache:invalidate`;

export async function publishRedis(client: Client, prefix: string, cardId: string, code: string): Promise<void> {
  await client.publish(invalidationChannel(prefix), encodeInvalidation(cardId, code));
}

/** The subscriber connection's CLIENT SETNAME: tells it apart in CLIENT LIST (no spaces allowed). */
export const busConnectionName = (prefix: string): string => `membercard-bus:${prefix}`.replace(/\s/g, '_');

export function subscribeRedis(
  clientOf: () => Promise<Client>,
  prefix: string,
  subscriber: InvalidationSubscriber,
): () => Promise<void> {
  const channel = invalidationChannel(prefix);
  let connection: Client | undefined;
  let closed = false;
  let up = false;
  const state = (value: boolean) => {
    if (value === up) return;
    up = value;
    subscriber.live(value);
  };
  const start = async () => {
    // The store's client first (a store down at start-up comes back through its own init).
    for (let attempt = 0; !closed; attempt++) {
      try {
        const client = await clientOf();
        const connectionName = busConnectionName(prefix);
        // lazyConnect: listeners first, then connect() below (the store's own client is lazy too).
        connection =
          'isCluster' in client && client.isCluster
            ? (client as Cluster).duplicate([], { lazyConnect: true, redisOptions: { connectionName } })
            : (client as Redis).duplicate({ connectionName, lazyConnect: true });
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** attempt)).unref());
      }
    }
    const sub = connection;
    if (!sub || closed) {
      sub?.disconnect();
      return;
    }
    sub.on('message', (from: string, raw: string) => {
      if (from !== channel) return;
      const message = decodeInvalidation(raw);
      if (message) subscriber.invalidated(...message);
    });
    // A dropped connection: unheard until it is back (the cache falls back to its short TTL).
    sub.on('close', () => state(false));
    sub.on('end', () => state(false));
    // Errors come with the close above; the lifecycle of the store reports outages.
    sub.on('error', () => {});
    const subscribe = () => {
      sub.subscribe(channel).then(
        () => state(!closed),
        () => state(false),
      );
    };
    sub.on('ready', subscribe);
    // A failed first connect is retried by ioredis (its retryStrategy), as after any drop.
    sub.connect().catch(() => state(false));
  };
  void start();
  return async () => {
    closed = true;
    state(false);
    connection?.disconnect();
  };
}
