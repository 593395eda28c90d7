import Joi from 'joi';
import type { Doc, GroupSpec } from './declare.js';
import type { RateLimit } from '../rate-limit.js';

/** A rate limit (src/rate-limit.ts) as a group of two options, `burst` and `perMinute`, with defaults and docs. */
export function limitOptions(defaults: RateLimit, burst: Doc, perMinute: Doc) {
  return {
    options: {
      burst: { schema: Joi.number().integer().min(1).max(1_000_000), default: defaults.burst, doc: burst },
      perMinute: { schema: Joi.number().min(0).max(10_000_000), default: defaults.perMinute, doc: perMinute },
    },
  } satisfies GroupSpec<Partial<RateLimit>>;
}
