import type { Cluster, Redis } from 'ioredis';
import { loadIoredis, loadIoredisCluster } from './drivers.js';
import type { RedisClusterNode, RedisConnectionOptions, RedisClusterConnectionOptions } from './options.js';
import {
  APPLY_TO_CARD,
  AUDIT_PAGE,
  BIND_BY_MERCHANT,
  CLAIM_OPERATION,
  CONSUME_MEMBER_CODE,
  CREATE_TOPUP,
  DROP_STALE_ENTRY,
  EXTEND_LOCK,
  FINISH_OPERATION,
  INSERT_OPERATION,
  NAME_OUTER_STR,
  RELEASE_LOCK,
  RENEW_OUTER_STR,
  SETTLE_OUTER_STR,
  SET_STATUS,
  SWAP_MEMBER_CODE,
  TAKE_OUTER_STR,
  TAKE_TOKENS,
  UPDATE_TOPUP,
} from './redis-scripts.js';
import { storeUnavailable } from './unavailable.js';

type Args = (string | number)[];

/** Our scripts, as commands on the client (ioredis sends EVALSHA to the node of the first key). */
export interface Scripted {
  mcApplyToCard(...args: Args): Promise<[number, string, string, string, string, string]>;
  mcTakeOuterStr(...args: Args): Promise<string[]>;
  mcSettleOuterStr(...args: Args): Promise<number>;
  mcDropStale(...args: Args): Promise<number>;
  mcSetStatus(...args: Args): Promise<number>;
  mcExtendLock(...args: Args): Promise<number>;
  mcReleaseLock(...args: Args): Promise<number>;
  mcInsertOp(...args: Args): Promise<number>;
  mcClaimOp(...args: Args): Promise<string>;
  mcFinishOp(...args: Args): Promise<number>;
  mcBindByMerchant(...args: Args): Promise<string[]>;
  mcCreateTopup(...args: Args): Promise<(number | string)[]>;
  mcUpdateTopup(...args: Args): Promise<number>;
  mcTakeTokens(...args: Args): Promise<[number, string, number]>;
  mcSwapMemberCode(...args: Args): Promise<string | null>;
  mcConsumeMemberCode(...args: Args): Promise<string | null>;
  mcAuditPage(...args: Args): Promise<(string | number)[]>;
  mcRenewOuterStr(...args: Args): Promise<number>;
  mcNameOuterStr(...args: Args): Promise<string | null>;
}

/** A single node (standalone or Sentinel) or a Redis Cluster: the store runs the same on both. */
export type Client = (Redis | Cluster) & Scripted;

const SCRIPTS: Record<keyof Scripted, [keys: number, lua: string]> = {
  mcApplyToCard: [2, APPLY_TO_CARD],
  mcTakeOuterStr: [1, TAKE_OUTER_STR],
  mcSettleOuterStr: [1, SETTLE_OUTER_STR],
  mcDropStale: [1, DROP_STALE_ENTRY],
  mcSetStatus: [1, SET_STATUS],
  mcExtendLock: [1, EXTEND_LOCK],
  mcReleaseLock: [1, RELEASE_LOCK],
  mcInsertOp: [3, INSERT_OPERATION],
  mcClaimOp: [1, CLAIM_OPERATION],
  mcFinishOp: [3, FINISH_OPERATION],
  mcBindByMerchant: [2, BIND_BY_MERCHANT],
  mcCreateTopup: [3, CREATE_TOPUP],
  mcUpdateTopup: [2, UPDATE_TOPUP],
  mcTakeTokens: [1, TAKE_TOKENS],
  mcSwapMemberCode: [1, SWAP_MEMBER_CODE],
  mcConsumeMemberCode: [1, CONSUME_MEMBER_CODE],
  mcAuditPage: [1, AUDIT_PAGE],
  mcRenewOuterStr: [1, RENEW_OUTER_STR],
  mcNameOuterStr: [1, NAME_OUTER_STR],
};

/** Defines our scripts on a client, ours or the host's. */
export function withScripts(client: Redis | Cluster): Client {
  for (const [name, [numberOfKeys, lua]] of Object.entries(SCRIPTS)) client.defineCommand(name, { numberOfKeys, lua });
  return client as Client;
}

/** Whether a client (ours or the host's) is an ioredis Cluster. */
export const isCluster = (client: object): client is Cluster => (client as { isCluster?: unknown }).isCluster === true;

/** The host's client, once it answers (a lazyConnect client connects on this first command). */
export async function checked(client: Client): Promise<Client> {
  if (isCluster(client)) {
    // A lazyConnect Cluster learns its slots on connect(); a command before that is refused
    // when its offline queue is off.
    if (client.status === 'wait') await client.connect();
    await client.cluster('INFO');
  } else {
    await client.ping();
  }
  return client;
}

/** Fail fast while disconnected (routes answer 503) instead of queueing without bound. */
const FAIL_FAST = {
  enableOfflineQueue: false,
  // A command that timed out has already been answered as a failure (503 / 5xx): it must
  // not run later, after a reconnect, or a "failed" step would be recorded after all.
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 1,
} as const;

/** Our own client, from a URL or a node list, with timeouts that make a hung server fail fast. */
export async function connect(
  options: (RedisConnectionOptions | RedisClusterConnectionOptions) & { onError?: (err: Error) => void },
): Promise<Client> {
  const connectTimeout = options.connectTimeoutMs ?? 3000;
  const commandTimeout = options.commandTimeoutMs ?? 5000;
  const retryStrategy = (times: number): number => Math.min(100 * times, 2000);
  let client: Client;
  if ('cluster' in options && options.cluster) {
    const Cluster = await loadIoredisCluster();
    client = withScripts(
      new Cluster(options.cluster.map(toClusterNode), {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: { connectTimeout, commandTimeout, ...FAIL_FAST, ...options.redis },
        ...options.clusterOptions,
      }),
    );
  } else {
    const Redis = await loadIoredis();
    client = withScripts(
      new Redis(options.url, {
        lazyConnect: true,
        connectTimeout,
        commandTimeout,
        ...FAIL_FAST,
        // The client keeps reconnecting in the background, so the store recovers by itself.
        retryStrategy,
        ...options.redis,
      }),
    );
  }
  // Without a listener, a connection error would be an unhandled 'error' event: a crash.
  client.on('error', (err: Error) => options.onError?.(err));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('Redis connect timed out')), connectTimeout + 1000);
      }),
    ]);
  } catch (err) {
    client.disconnect();
    throw storeUnavailable(err);
  } finally {
    clearTimeout(timer);
  }
  return client;
}

/** 'host:port', '[v6]:port' or { host, port }, as ioredis takes a seed node. */
export function toClusterNode(node: RedisClusterNode): { host: string; port: number } {
  if (typeof node !== 'string') return { host: node.host, port: node.port ?? 6379 };
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(node.trim());
  return { host: m?.[1] ?? m?.[2] ?? node, port: m?.[3] ? Number(m[3]) : 6379 };
}

export async function quit(client: Client): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
