import Joi from 'joi';
import { entries, isAlias, isGroup, type DefaultsOf, type OptionSpec } from './declare.js';

function optionSchema(spec: OptionSpec): Joi.Schema {
  let schema = spec.required ? spec.schema.required() : spec.schema;
  if ('default' in spec) {
    const value = spec.default;
    // Always through a function: joi would call a default that is itself a function (log,
    // identity), and each factory gets its own copy of an array default.
    schema = schema.default(() => (Array.isArray(value) ? Array.from(value as unknown[]) : value) as Joi.BasicType);
  }
  return schema;
}

/** The joi schema of a declaration. Aliases are not in it: validate.ts renames them first. */
export function schemaOf(declaration: object): Joi.ObjectSchema {
  const keys: Record<string, Joi.Schema> = {};
  for (const [key, spec] of entries(declaration)) {
    if (isAlias(spec)) continue;
    if (!isGroup(spec)) {
      keys[key] = optionSchema(spec);
      continue;
    }
    const group = spec.rules ? spec.rules(schemaOf(spec.options)) : schemaOf(spec.options);
    // An empty default() makes joi build the group from its own defaults when it is not given.
    keys[key] = spec.required ? group.required() : group.default();
  }
  return Joi.object(keys);
}

/** The defaults of a declaration, nested as the options are (groups always present). */
export function defaultsOf<D extends object>(declaration: D): DefaultsOf<D> {
  const defaults: Record<string, unknown> = {};
  for (const [key, spec] of entries(declaration)) {
    if (isGroup(spec)) defaults[key] = defaultsOf(spec.options);
    else if (!isAlias(spec) && 'default' in spec) defaults[key] = spec.default;
  }
  return defaults as DefaultsOf<D>;
}
