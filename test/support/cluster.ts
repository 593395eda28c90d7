// The Redis Cluster the cluster tests run against (scripts/redis-cluster.sh start prints its node
// list): where it is, whether it answers, and a key prefix of a test's own that is removed after.
// Unset MEMBERCARD_TEST_REDIS_CLUSTER skips the cluster suites; set but unreachable, they fail
// when MEMBERCARD_TEST_REQUIRE_SERVICES=1 (CI), as for the other servers.
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Cluster } from 'ioredis';
import { REQUIRE_SERVICES, type TestStore } from './services.js';

export const REDIS_CLUSTER = process.env['MEMBERCARD_TEST_REDIS_CLUSTER'] ?? '';
export const CLUSTER_NODES = REDIS_CLUSTER.split(',')
  .map((n) => n.trim())
  .filter(Boolean);

/** A client of the test cluster (lazy: it connects on first use); the caller disconnects it. */
export function clusterClient(): Cluster {
  return new Cluster(CLUSTER_NODES, { lazyConnect: true, clusterRetryStrategy: () => null });
}

let probed: Promise<string | undefined> | undefined;

async function probeCluster(): Promise<string | undefined> {
  const client = clusterClient();
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    const info = await Promise.race([
      client.connect().then(() => client.cluster('INFO')),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer within 3 s')), 3000);
      }),
    ]);
    if (!/cluster_state:ok/.test(String(info))) return `Redis Cluster at ${REDIS_CLUSTER} is not ok: suite skipped`;
    return undefined;
  } catch (err) {
    return `Redis Cluster not reachable at ${REDIS_CLUSTER} (${(err as Error).message}): suite skipped`;
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** Why a suite needing the cluster must be skipped (undefined: run it); see the top of this file. */
export async function clusterUnavailable(suite: string): Promise<string | undefined> {
  if (CLUSTER_NODES.length === 0) return 'MEMBERCARD_TEST_REDIS_CLUSTER is not set: suite skipped';
  probed ??= probeCluster();
  const reason = await probed;
  if (reason && REQUIRE_SERVICES) {
    test(`${suite}: the Redis Cluster is required (MEMBERCARD_TEST_REDIS_CLUSTER is set) and reachable`, () => {
      throw new Error(reason.replace(': suite skipped', ''));
    });
  }
  return reason;
}

/** A key prefix of this run's own on the cluster, as a redis+cluster:// URL, and its removal. */
export function freshClusterStore(label = 'test'): TestStore {
  const place = `membercard_${label}_${randomBytes(6).toString('hex')}:`;
  const url = `redis+cluster://${CLUSTER_NODES.join(',')}/?prefix=${encodeURIComponent(place)}`;
  return { engine: 'redis', url, place, via: () => url, cleanup: () => deleteClusterKeys(place).then(() => undefined) };
}

/** Deletes every key under a prefix on every master (SCAN, not KEYS); answers how many. */
export async function deleteClusterKeys(prefix: string): Promise<number> {
  const client = clusterClient();
  let deleted = 0;
  try {
    await client.connect();
    for (const node of client.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        // One DEL per key: the keys of one SCAN page sit in many slots.
        for (const key of keys) deleted += await node.del(key);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
  return deleted;
}
