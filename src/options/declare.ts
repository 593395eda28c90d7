import type Joi from 'joi';

// The shape of an options declaration: every option of a factory is written once, with its joi
// check, its default and its doc line; validation, defaults, types of the resolved options and the
// README tables are all read from it (see compile.ts, validate.ts, and scripts/readme/tables.ts).

/** A doc line in each language the README is written in. */
export interface Doc {
  en: string;
  zh: string;
}

/** One option. */
export interface OptionSpec<T = unknown> {
  /** The joi check, without `.required()` or `.default()`: those come from the fields below. */
  schema: Joi.Schema;
  required?: true;
  /** Filled in when the option is not given. */
  default?: T;
  /** How the default reads in the docs when the value alone says too little (a function, a duration). */
  defaultDoc?: Doc;
  doc: Doc;
}

/** An object of options inside the options (`wechatpay`, `openCard`, …); filled in when not given. */
export interface GroupSpec<T = unknown> {
  options: Declaration<T>;
  required?: true;
  /** Rules over the whole group, e.g. which of its options go together. */
  rules?: (group: Joi.ObjectSchema) => Joi.ObjectSchema;
}

/** An older name of another option of the same group, still accepted and documented as deprecated. */
export interface AliasSpec<K extends string = string> {
  aliasOf: K;
  /** The old name took seconds: its value is multiplied by 1000. */
  seconds?: true;
}

export type Spec = OptionSpec | GroupSpec | AliasSpec;

/**
 * A declaration of the options type T: one entry per key of T, no other key (checked at compile
 * time with `satisfies Declaration<T>`), each default of T's type, each alias naming a sibling.
 */
export type Declaration<T> = {
  [K in keyof T]-?:
    OptionSpec<NonNullable<T[K]>> | GroupSpec<NonNullable<T[K]>> | AliasSpec<Exclude<keyof T, K> & string>;
};

/** T after validation: aliases gone, defaults and groups filled in. */
export type Resolved<T, D> = {
  [K in keyof D as D[K] extends AliasSpec ? never : K]: K extends keyof T
    ? D[K] extends { options: infer G }
      ? Resolved<NonNullable<T[K]>, G>
      : D[K] extends { default: unknown } | { required: true }
        ? NonNullable<T[K]>
        : T[K]
    : never;
};

/** The defaults of a declaration, nested as the options are. */
export type DefaultsOf<D> = {
  [K in keyof D as D[K] extends { default: unknown } | { options: unknown } ? K : never]: D[K] extends {
    options: infer G;
  }
    ? DefaultsOf<G>
    : D[K] extends { default: infer V }
      ? V
      : never;
};

/** Every dotted path of a declared option or group ('wechatpay', 'wechatpay.timeoutMs', …), aliases left out. */
export type OptionPath<D> = {
  [K in keyof D & string]: D[K] extends AliasSpec
    ? never
    : D[K] extends { options: infer G }
      ? K | `${K}.${OptionPath<G>}`
      : K;
}[keyof D & string];

export function isAlias(spec: Spec): spec is AliasSpec {
  return 'aliasOf' in spec;
}

export function isGroup(spec: Spec): spec is GroupSpec {
  return 'options' in spec;
}

/** The entries of a declaration, typed loosely enough to walk. */
export function entries(declaration: object): [string, Spec][] {
  return Object.entries(declaration as Record<string, Spec>);
}

/** The entry at a dotted path ('wechatpay.timeoutMs'), if declared. */
export function specAt(declaration: object, path: string): Spec | undefined {
  const [head = '', ...rest] = path.split('.');
  const spec = entries(declaration).find(([key]) => key === head)?.[1];
  if (!spec || rest.length === 0) return spec;
  return isGroup(spec) ? specAt(spec.options, rest.join('.')) : undefined;
}
