import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OptionsError } from '../errors.js';

/** A key as an option may hold it: PEM text, a Buffer, a KeyObject, a file path or a file:// URL. */
export type KeyInput = string | Buffer | KeyObject;

function readKeyText(input: string | Buffer, option: string): string | Buffer {
  if (Buffer.isBuffer(input)) return input;
  if (input.includes('-----BEGIN')) return input;
  const path = input.startsWith('file://') ? fileURLToPath(input) : input;
  try {
    return readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new OptionsError(`option "${option}": cannot read the key file ${path} (${reason})`);
  }
}

function requireRsa(key: KeyObject, option: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new OptionsError(
      `option "${option}": expected an RSA key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`,
    );
  }
  return key;
}

/** Loads the merchant's RSA private key once, at creation, so a bad file fails early and clearly. */
export function loadPrivateKey(input: KeyInput, option: string): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type !== 'private')
      throw new OptionsError(`option "${option}": expected a private key, got a ${input.type} key`);
    return requireRsa(input, option);
  }
  try {
    return requireRsa(createPrivateKey(readKeyText(input, option)), option);
  } catch (err) {
    if (err instanceof OptionsError) throw err;
    throw new OptionsError(`option "${option}": not a PEM private key`);
  }
}

/** Loads a platform public key or platform certificate (PEM) once, at creation. */
export function loadPublicKey(input: KeyInput, option: string): KeyObject {
  if (input instanceof KeyObject) {
    if (input.type === 'private') return requireRsa(createPublicKey(input), option);
    if (input.type !== 'public') throw new OptionsError(`option "${option}": expected a public key`);
    return requireRsa(input, option);
  }
  try {
    // createPublicKey reads SPKI/PKCS#1 public keys and X.509 certificates alike.
    return requireRsa(createPublicKey(readKeyText(input, option)), option);
  } catch (err) {
    if (err instanceof OptionsError) throw err;
    throw new OptionsError(`option "${option}": not a PEM public key or certificate`);
  }
}
