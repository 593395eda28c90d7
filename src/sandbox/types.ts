import type { SandboxBehaviour } from './behaviour.js';

// The public option and credential types (re-exported by index.ts), kept apart so every module
// can import them without importing the server.

/**
 * How the platform identifies the key it signs with. publicKey: a public key id PUB_KEY_ID_…;
 * certificate: a platform certificate serial; migrating: both, as during WeChat Pay's move from
 * certificates to the public key (answers follow the request's Wechatpay-Serial).
 */
export type PlatformMode = 'publicKey' | 'certificate' | 'migrating';

export interface SandboxOptions {
  /** Default 0 (any free port) when imported; the CLI defaults to 3100. */
  port?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Where keys and state live; default: a fresh temporary folder, removed again by close(). */
  stateDir?: string;
  /** How the platform identifies its key in Wechatpay-Serial; default 'publicKey'. */
  platformMode?: PlatformMode;
  /** Answers the documentation leaves open (src/sandbox/behaviour.ts); each defaults to its first value. */
  behaviour?: Partial<SandboxBehaviour>;
  /** Multiplies WeChat's notification retry schedule; default 1/60 (seconds instead of minutes). */
  retryFactor?: number;
  /** How long a notify URL has to answer; default 5000 (WeChat's 5 s). */
  notifyTimeoutMs?: number;
  /** Receives one line per request and notification attempt; default silent. */
  log?: (line: string) => void;
}

/** Everything a client needs to talk to the sandbox; also written to <stateDir>/sandbox.json. */
export interface SandboxCredentials {
  /** With a trailing slash, e.g. http://127.0.0.1:3100/ */
  baseURL: string;
  mchid: string;
  /** Merchant certificate serial (40 upper-case hex digits). */
  serial: string;
  /** Absolute path of the merchant private key PEM. */
  privateKey: string;
  /** Public-key and migrating mode: 'PUB_KEY_ID_01…' and the absolute path of the platform public key PEM. */
  publicKeyId?: string;
  publicKey?: string;
  /** Certificate and migrating mode: the platform certificate serial and the absolute path of its PEM. */
  platformCertificateSerial?: string;
  platformCertificate?: string;
  /** 32 ASCII characters. */
  apiv3Key: string;
  /** The 服务号 (Official Account) AppID the card template belongs to. */
  appid: string;
  miniProgramAppid: string;
  miniProgramSecret: string;
  /** A member card template that exists in the sandbox. */
  cardId: string;
}

export interface Sandbox {
  /** Same as credentials.baseURL. */
  url: string;
  credentials: SandboxCredentials;
  close(): Promise<void>;
}
