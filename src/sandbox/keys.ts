import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedCertificate } from './certificate.js';
import { randomAlnum, randomDigits, randomFrom, randomHex, randomUrlSafe } from './ids.js';

// Everything secret or identifying the sandbox owns. Made once per state folder and reused, so a
// back end configured against a sandbox keeps working after the sandbox restarts.

/** The ids, kept in <stateDir>/keys.json next to the PEM files. */
interface KeyIds {
  version: 1;
  mchid: string;
  serial: string;
  publicKeyId: string;
  platformCertificateSerial: string;
  apiv3Key: string;
  appid: string;
  miniProgramAppid: string;
  miniProgramSecret: string;
  cardId: string;
}

export interface SandboxKeys extends KeyIds {
  merchantPrivateKeyPath: string;
  merchantPublicKey: KeyObject;
  /** The pair behind the public key id (PUB_KEY_ID_…). */
  platformPrivateKey: KeyObject;
  platformPublicKey: KeyObject;
  platformPublicKeyPath: string;
  /** The platform certificate's own pair: a client that takes one for the other fails. */
  certificatePrivateKey: KeyObject;
  certificatePublicKey: KeyObject;
  platformCertificatePath: string;
}

export const FILES = {
  ids: 'keys.json',
  // The merchant file names follow WeChat Pay's own downloads, so the layout looks familiar.
  merchantPrivateKey: 'apiclient_key.pem',
  platformPrivateKey: 'platform_private_key.pem',
  platformPublicKey: 'pub_key.pem',
  certificatePrivateKey: 'platform_cert_private_key.pem',
  platformCertificate: 'platform_cert.pem',
} as const;

/** 40 upper-case hex digits whose first byte keeps the DER INTEGER positive and full-length. */
function certificateSerial(): string {
  const bytes = randomBytes(20);
  bytes[0] = 0x10 + ((bytes[0] ?? 0) % 0x70);
  return bytes.toString('hex').toUpperCase();
}

function rsaPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 });
}

const privatePem = (key: KeyObject): string => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicPem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

/** The platform certificate: its own key pair, self-signed, with the serial from keys.json. */
function issueCertificate(stateDir: string, serialHex: string): void {
  const pair = rsaPair();
  const certificate = selfSignedCertificate({
    publicKey: pair.publicKey,
    privateKey: pair.privateKey,
    serialHex,
    commonName: 'WeChat Pay Sandbox Platform',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 5 * 365 * 86_400_000),
  });
  writeFileSync(join(stateDir, FILES.certificatePrivateKey), privatePem(pair.privateKey), { mode: 0o600 });
  writeFileSync(join(stateDir, FILES.platformCertificate), certificate);
}

function create(stateDir: string): void {
  const merchant = rsaPair();
  // A different pair for the platform: a client that mixes the two up must fail here too.
  const platform = rsaPair();
  const ids: KeyIds = {
    version: 1,
    mchid: `19${randomDigits(8)}`,
    serial: certificateSerial(),
    publicKeyId: `PUB_KEY_ID_01${randomFrom('0123456789', 32)}`,
    platformCertificateSerial: certificateSerial(),
    apiv3Key: randomAlnum(32),
    appid: `wx${randomHex(8)}`,
    miniProgramAppid: `wx${randomHex(8)}`,
    miniProgramSecret: randomHex(16),
    cardId: `pMC${randomUrlSafe(25).replace(/[-_]/g, 'x')}`,
  };
  const secret = { mode: 0o600 };
  writeFileSync(join(stateDir, FILES.merchantPrivateKey), privatePem(merchant.privateKey), secret);
  writeFileSync(join(stateDir, FILES.platformPrivateKey), privatePem(platform.privateKey), secret);
  writeFileSync(join(stateDir, FILES.platformPublicKey), publicPem(platform.publicKey));
  issueCertificate(stateDir, ids.platformCertificateSerial);
  // Ids last: their presence marks a complete set (a crash mid-way makes a fresh set next time).
  writeFileSync(join(stateDir, FILES.ids), `${JSON.stringify(ids, null, 2)}\n`, secret);
}

function isKeyIds(value: unknown): value is KeyIds {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const names: Array<keyof KeyIds> = [
    'mchid',
    'serial',
    'publicKeyId',
    'platformCertificateSerial',
    'apiv3Key',
    'appid',
    'miniProgramAppid',
    'miniProgramSecret',
    'cardId',
  ];
  return v.version === 1 && names.every((n) => typeof v[n] === 'string');
}

/** Loads the keys from `stateDir` (an absolute path), making them on first use. */
export function loadOrCreateKeys(stateDir: string): SandboxKeys {
  const idsPath = join(stateDir, FILES.ids);
  if (!existsSync(idsPath)) create(stateDir);
  const ids: unknown = JSON.parse(readFileSync(idsPath, 'utf8'));
  if (!isKeyIds(ids))
    throw new Error(`sandbox: ${idsPath} is not a sandbox key file; remove the state folder to start afresh`);
  // Folders made before the certificate had a pair of its own: re-issue it (same serial, new pair).
  if (!existsSync(join(stateDir, FILES.certificatePrivateKey)))
    issueCertificate(stateDir, ids.platformCertificateSerial);
  const merchantPrivateKeyPath = join(stateDir, FILES.merchantPrivateKey);
  const platformPrivateKey = createPrivateKey(readFileSync(join(stateDir, FILES.platformPrivateKey)));
  const certificatePrivateKey = createPrivateKey(readFileSync(join(stateDir, FILES.certificatePrivateKey)));
  return {
    ...ids,
    merchantPrivateKeyPath,
    merchantPublicKey: createPublicKey(createPrivateKey(readFileSync(merchantPrivateKeyPath))),
    platformPrivateKey,
    platformPublicKey: createPublicKey(platformPrivateKey),
    platformPublicKeyPath: join(stateDir, FILES.platformPublicKey),
    certificatePrivateKey,
    certificatePublicKey: createPublicKey(certificatePrivateKey),
    platformCertificatePath: join(stateDir, FILES.platformCertificate),
  };
}
