import type Joi from 'joi';
import { OptionsError } from '../errors.js';
import { entries, isAlias, isGroup } from './declare.js';

/** An option given under its old name: where it went, and what it became when the unit changed. */
interface Renamed {
  alias: string;
  converted?: number;
}

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Moves options given under an alias to their name (seconds to ms where the unit changed),
 * copying only the objects it changes: the caller's options, keys and stores stay untouched.
 */
function renameAliases(
  factory: string,
  declaration: object,
  given: Plain,
  prefix: string,
  renamed: Map<string, Renamed>,
): Plain {
  let out = given;
  const set = (key: string, value: unknown) => {
    if (out === given) out = { ...given };
    if (value === undefined) delete out[key];
    else out[key] = value;
  };
  for (const [key, spec] of entries(declaration)) {
    const value = given[key];
    if (value === undefined) continue;
    if (isGroup(spec) && isPlain(value)) {
      const inner = renameAliases(factory, spec.options, value, `${prefix}${key}.`, renamed);
      if (inner !== value) set(key, inner);
    } else if (isAlias(spec)) {
      const alias = `${prefix}${key}`;
      const name = `${prefix}${spec.aliasOf}`;
      if (given[spec.aliasOf] !== undefined) {
        throw new OptionsError(`is an older name of "${name}", which is given too: pass only "${name}"`, {
          factory,
          option: alias,
        });
      }
      const converted = spec.seconds && typeof value === 'number' ? value * 1000 : undefined;
      renamed.set(name, converted === undefined ? { alias } : { alias, converted });
      set(key, undefined);
      set(spec.aliasOf, converted ?? value);
    }
  }
  return out;
}

/**
 * Checks a factory's options against its declaration once, at creation: aliases renamed, joi
 * run, defaults filled in. The first error becomes an OptionsError naming the option as the
 * caller wrote it (an alias stays an alias). The result has the shape the caller declares: joi
 * cannot say so itself.
 */
export function validateOptions<R>(factory: string, declaration: object, schema: Joi.ObjectSchema, given: unknown): R {
  if (!isPlain(given)) throw new OptionsError('options must be an object', { factory });
  const renamed = new Map<string, Renamed>();
  const options = renameAliases(factory, declaration, given, '', renamed);
  const result = schema.validate(options, { abortEarly: true, errors: { label: false } });
  const { error } = result;
  if (!error) return result.value as R;
  const detail = error.details[0];
  const path = detail?.path.join('.') ?? '';
  let problem = detail?.message ?? error.message;
  let option = path;
  for (const [name, from] of renamed) {
    if (path !== name && !path.startsWith(`${name}.`)) continue;
    option = from.alias + path.slice(name.length);
    if (from.converted !== undefined) problem += ` (read as "${name}": ${from.converted})`;
  }
  throw new OptionsError(problem, { factory, option: option || undefined });
}
