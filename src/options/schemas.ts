import { KeyObject } from 'node:crypto';
import Joi from 'joi';
import { toLog } from '../log.js';
import { isRegistry } from '../metrics/registry.js';
import { isStoreSpec } from '../store/options.js';

// joi checks that more than one option (or both factories) use.

/** An id WeChat hands out: letters, digits, "_" or "-". */
export const id = (max: number) =>
  Joi.string()
    .pattern(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" or "-"')
    .max(max);

/** A base URL, always given back with a trailing slash so paths can be appended to it. */
export const baseUrl = Joi.string()
  .uri({ scheme: ['http', 'https'] })
  .custom((value: string) => (value.endsWith('/') ? value : `${value}/`));

/** A duration in milliseconds. */
export const ms = (min: number, max?: number) => {
  const schema = Joi.number().integer().min(min);
  return max === undefined ? schema : schema.max(max);
};

// Keys and stores are checked with custom() rather than Joi.object(): joi would clone them, and a
// KeyObject or a class instance with private fields does not survive a clone.
export const keyInput = Joi.any()
  .custom((value: unknown, helpers) =>
    (typeof value === 'string' && value.length > 0) || Buffer.isBuffer(value) || value instanceof KeyObject
      ? value
      : helpers.error('key.type'),
  )
  .messages({ 'key.type': 'must be PEM text, a Buffer, a KeyObject or a file path' });

/**
 * A store URL, engine options or a store object; shared by memberCard() and wechatLogin(). Which
 * methods an object needs depends on the role it is passed for: that is checked when the store is made.
 */
export const storeOption = Joi.any()
  .custom((value: unknown, helpers) => (isStoreSpec(value) ? value : helpers.error('store.type')))
  .messages({
    'store.type':
      'must be a store URL (memory:, sqlite:…, postgres://…, redis://…, redis+cluster://…), ' +
      'engine options or a store object',
  });

/** Where both factories keep their data unless told otherwise, so that by default they share it. */
export const DEFAULT_STORE = 'sqlite:./data/membercard.db';

/**
 * A `log` option: our `(level, message, fields)` function, or a pino-style logger (kept as is:
 * joi would clone it; the factory makes it a function with log.ts toLog).
 */
export const logOption = Joi.any()
  .custom((value: unknown, helpers) => (toLog(value) ? value : helpers.error('log.type')))
  .messages({
    'log.type': 'must be a function (level, message, fields) or a pino-style logger with info, warn and error',
  });

/** A prom-client Registry, kept as is (joi would clone it). */
export const registryOption = Joi.any()
  .custom((value: unknown, helpers) => (isRegistry(value) ? value : helpers.error('registry.type')))
  .messages({
    'registry.type': "must be a prom-client Registry (new Registry(), or prom-client's register)",
  });
