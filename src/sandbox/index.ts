import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Behaviour, defaultBehaviour, parseBehaviour, type SandboxBehaviour } from './behaviour.js';
import { Faults } from './faults.js';
import { loadOrCreateKeys, type SandboxKeys } from './keys.js';
import { Notifier } from './notifier.js';
import { PlatformKeys } from './platform-keys.js';
import { ApiError } from './reply.js';
import { RequestLog } from './request-log.js';
import { SandboxServer } from './server.js';
import { RequestVerifier } from './signature.js';
import { SandboxState } from './state.js';
import type { PlatformMode, Sandbox, SandboxCredentials, SandboxOptions } from './types.js';

// A local WeChat Pay APIv3 (member cards) with real keys and signatures: start it, point a
// client at `credentials`, drive users and faults through /sandbox/.

export type { PlatformMode, Sandbox, SandboxCredentials, SandboxOptions } from './types.js';
export type { SandboxBehaviour } from './behaviour.js';
export { BEHAVIOUR } from './behaviour.js';
export { isLoopback, isLoopbackHost } from './control-guard.js';
export { serveEnvironment, wechatpayOptions } from './client-settings.js';
export { RETRY_SCHEDULE_S, RETRY_SCHEDULES } from './notifier.js';
export { SIGNATURE_PROBE_PREFIX } from './signature.js';
export { runSandboxCommand, SANDBOX_USAGE } from './cli.js';

interface Settings {
  port: number;
  host: string;
  stateDir: string;
  /** True when the sandbox made stateDir itself: it is then removed again on close(). */
  ownsStateDir: boolean;
  platformMode: PlatformMode;
  behaviour: SandboxBehaviour;
  retryFactor: number;
  notifyTimeoutMs: number;
  log: (line: string) => void;
}

/** Checks options once, with errors that name the option. */
function settle(options: SandboxOptions): Settings {
  const {
    port = 0,
    host = '127.0.0.1',
    platformMode = 'publicKey',
    retryFactor = 1 / 60,
    notifyTimeoutMs = 5000,
  } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`sandbox option port: must be an integer 0..65535, got ${String(port)}`);
  if (typeof host !== 'string' || host === '') throw new Error('sandbox option host: must be a non-empty string');
  if (platformMode !== 'publicKey' && platformMode !== 'certificate' && platformMode !== 'migrating') {
    throw new Error(
      `sandbox option platformMode: must be 'publicKey', 'certificate' or 'migrating', got ${String(platformMode)}`,
    );
  }
  let behaviour: SandboxBehaviour;
  try {
    behaviour = parseBehaviour(options.behaviour, defaultBehaviour());
  } catch (err) {
    throw new Error(`sandbox option ${err instanceof ApiError ? err.message : String(err)}`, { cause: err });
  }
  if (typeof retryFactor !== 'number' || !Number.isFinite(retryFactor) || retryFactor < 0) {
    throw new Error(`sandbox option retryFactor: must be a number ≥ 0, got ${String(retryFactor)}`);
  }
  if (!Number.isInteger(notifyTimeoutMs) || notifyTimeoutMs < 1) {
    throw new Error(`sandbox option notifyTimeoutMs: must be a positive integer, got ${String(notifyTimeoutMs)}`);
  }
  if (options.log !== undefined && typeof options.log !== 'function')
    throw new Error('sandbox option log: must be a function');
  if (options.stateDir !== undefined && (typeof options.stateDir !== 'string' || options.stateDir === '')) {
    throw new Error('sandbox option stateDir: must be a non-empty string');
  }
  const stateDir =
    options.stateDir === undefined ? mkdtempSync(join(tmpdir(), 'wechatpay-sandbox-')) : resolve(options.stateDir);
  return {
    port,
    host,
    stateDir,
    ownsStateDir: options.stateDir === undefined,
    platformMode,
    behaviour,
    retryFactor,
    notifyTimeoutMs,
    log: options.log ?? (() => {}),
  };
}

function baseURL(host: string, port: number): string {
  // A wildcard listen address is not something a client can connect to: use loopback instead.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/`;
}

function credentialsOf(keys: SandboxKeys, url: string, mode: PlatformMode): SandboxCredentials {
  const publicKey = { publicKeyId: keys.publicKeyId, publicKey: keys.platformPublicKeyPath };
  const certificate = {
    platformCertificateSerial: keys.platformCertificateSerial,
    platformCertificate: keys.platformCertificatePath,
  };
  return {
    baseURL: url,
    mchid: keys.mchid,
    serial: keys.serial,
    privateKey: keys.merchantPrivateKeyPath,
    ...(mode === 'certificate' ? {} : publicKey),
    ...(mode === 'publicKey' ? {} : certificate),
    apiv3Key: keys.apiv3Key,
    appid: keys.appid,
    miniProgramAppid: keys.miniProgramAppid,
    miniProgramSecret: keys.miniProgramSecret,
    cardId: keys.cardId,
  };
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const settings = settle(options);
  mkdirSync(settings.stateDir, { recursive: true });
  const keys = loadOrCreateKeys(settings.stateDir);
  const state = new SandboxState(settings.stateDir);
  const behaviour = new Behaviour(settings.behaviour);
  const platform = new PlatformKeys(keys, settings.platformMode, behaviour);
  const faults = new Faults();
  const notifier = new Notifier({
    state,
    apiv3Key: keys.apiv3Key,
    platform,
    behaviour,
    faults,
    retryFactor: settings.retryFactor,
    timeoutMs: settings.notifyTimeoutMs,
    log: settings.log,
  });
  let credentials: SandboxCredentials | undefined;
  const server = new SandboxServer({
    keys,
    credentials: () => {
      if (!credentials) throw new Error('sandbox not started yet');
      return credentials;
    },
    state,
    notifier,
    faults,
    requests: new RequestLog(),
    verifier: new RequestVerifier([{ mchid: keys.mchid, serial: keys.serial, publicKey: keys.merchantPublicKey }]),
    platform,
    behaviour,
    log: settings.log,
  });

  await new Promise<void>((resolveListen, reject) => {
    server.http.once('error', reject);
    server.http.listen(settings.port, settings.host, () => {
      server.http.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.http.address() as AddressInfo;
  const url = baseURL(settings.host, port);
  credentials = credentialsOf(keys, url, settings.platformMode);
  writeFileSync(join(settings.stateDir, 'sandbox.json'), `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  notifier.resume(); // notifications left pending by an earlier run

  let closing: Promise<void> | undefined;
  return {
    url,
    credentials,
    close: () => {
      closing ??= (async () => {
        notifier.close();
        await server.close();
        if (settings.ownsStateDir) rmSync(settings.stateDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
