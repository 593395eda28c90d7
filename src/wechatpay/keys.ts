import { createPrivateKey, createPublicKey, KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OptionsError, type OptionPlace } from '../errors.js';

/** A key as an option may hold it: PEM text, a Buffer, a KeyObject, a file path or a file:// URL. */
export type KeyInput = string | Buffer | KeyObject;

function readKeyText(input: string | Buffer, at: OptionPlace): string | Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (input.includes('-----BEGIN')) return input;
  const path = input.startsWith('file://') ? fileURLToPath(input) : input;
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new OptionsError(`cannot read the key file ${path} (${reason})`, at);
  }
}

function requireRsa(key: KeyObject, at: OptionPlace): KeyObject {
  if (key.asymmetricKeyType !== 'rsa')
    throw new OptionsError(`must be an RSA key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`, at);
  return key;
}

/** Loads the merchant's RSA private key once, at creation, so a bad file fails early and clearly. */
export function loadPrivateKey(input: KeyInput, at: OptionPlace): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private') throw new OptionsError(`must be a private key, got a ${input.type} key`, at);
    return requireRsa(input, at);
  }
  try {
    return requireRsa(createPrivateKey(readKeyText(input, at)), at);
  } catch (err) {
    if (err instanceof OptionsError) throw err;
    throw new OptionsError('is not a PEM private key', at);
  }
}

/** A platform key as loaded: the key, and when it is a certificate, the start of its validity. */
export interface PlatformKey {
  key: KeyObject;
  /** ms since the epoch: the certificate's notBefore; absent for a bare public key. */
  validFrom?: number;
}

/** Loads a platform public key or platform certificate (PEM) once, at creation. */
export function loadPlatformKey(input: KeyInput, at: OptionPlace): PlatformKey {
  if (input instanceof KeyObject) {
    if (input.type === 'private') return { key: requireRsa(createPublicKey(input), at) };
    if (input.type !== 'public') throw new OptionsError('must be a public key', at);
    return { key: requireRsa(input, at) };
  }
  const text = readKeyText(input, at);
  try {
    if (text.includes('-----BEGIN CERTIFICATE')) {
      // Kept as a certificate, so the newest one can be named in Wechatpay-Serial.
      const certificate = new X509Certificate(text);
      return { key: requireRsa(certificate.publicKey, at), validFrom: Date.parse(certificate.validFrom) };
    }
    return { key: requireRsa(createPublicKey(text), at) };
  } catch (err) {
    if (err instanceof OptionsError) throw err;
    throw new OptionsError('is not a PEM public key or certificate', at);
  }
}
