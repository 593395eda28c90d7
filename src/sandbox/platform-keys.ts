import type { KeyObject } from 'node:crypto';
import type { Behaviour } from './behaviour.js';
import type { SandboxKeys } from './keys.js';
import type { PlatformMode } from './types.js';

// Which platform key signs what. WeChat Pay signs an answer with the key the merchant's request
// names in Wechatpay-Serial once the move to the public key has started, else with the platform
// certificate (pay.weixin.qq.com/doc/v3/merchant/4012154180); notifications are moved over in a
// gray release, whatever the merchant sends. The sandbox's public key and certificate have
// different key pairs, so a client that verifies with the wrong one fails.

export interface PlatformSigner {
  /** The Wechatpay-Serial value: PUB_KEY_ID_… or the certificate serial. */
  serial: string;
  privateKey: KeyObject;
}

export type KeyChoice = 'publicKey' | 'certificate';

export class PlatformKeys {
  readonly publicKey: PlatformSigner;
  readonly certificate: PlatformSigner;

  constructor(
    keys: SandboxKeys,
    private readonly mode: PlatformMode,
    private readonly behaviour: Behaviour,
  ) {
    this.publicKey = { serial: keys.publicKeyId, privateKey: keys.platformPrivateKey };
    this.certificate = { serial: keys.platformCertificateSerial, privateKey: keys.certificatePrivateKey };
  }

  /** True when a request's Wechatpay-Serial names one of the platform's keys (serials case-insensitively). */
  knows(serial: string): boolean {
    return serial === this.publicKey.serial || serial.toUpperCase() === this.certificate.serial.toUpperCase();
  }

  /** The key for an answer to a request that sent this Wechatpay-Serial (or none). */
  forAnswer(requested: string | undefined, choice?: KeyChoice): PlatformSigner {
    if (choice) return this[choice];
    const rule = this.behaviour.get().signWith;
    if (rule === 'publicKey' || rule === 'certificate') return this[rule];
    if (rule === 'header' || this.mode === 'migrating')
      return requested === this.publicKey.serial ? this.publicKey : this.certificate;
    return this.modeKey();
  }

  /** The key for one notification delivery; `delivery` counts every delivery from 1 (alternate switches on it). */
  forNotification(delivery: number, choice?: KeyChoice): PlatformSigner {
    if (choice) return this[choice];
    const rule = this.behaviour.get().notifyKey;
    if (rule === 'publicKey' || rule === 'certificate') return this[rule];
    if (rule === 'alternate' || this.mode === 'migrating')
      return delivery % 2 === 1 ? this.publicKey : this.certificate;
    return this.modeKey();
  }

  private modeKey(): PlatformSigner {
    return this.mode === 'certificate' ? this.certificate : this.publicKey;
  }
}
