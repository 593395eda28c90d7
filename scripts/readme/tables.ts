import { entries, isAlias, isGroup, type OptionSpec, type Spec } from '../../src/options/declare.js';

// Markdown tables from a declaration, in either README language.

export type Lang = 'en' | 'zh';

const WORDS = {
  en: {
    required: 'required',
    none: 'none',
    alias: (name: string, seconds?: true) => `deprecated: older name of \`${name}\`${seconds ? ', in seconds' : ''}`,
  },
  zh: {
    required: '必填',
    none: '无',
    alias: (name: string, seconds?: true) => `已弃用：\`${name}\` 的旧名${seconds ? '，单位为秒' : ''}`,
  },
};

const UNITS = [
  { ms: 86_400_000, en: 'd', zh: '天' },
  { ms: 3_600_000, en: 'h', zh: '小时' },
  { ms: 60_000, en: 'min', zh: '分钟' },
  { ms: 1000, en: 's', zh: '秒' },
] as const;

/** `1800000` (30 min): a duration also in the largest unit that divides it. */
function duration(value: number, lang: Lang): string {
  const unit = UNITS.find((u) => value >= u.ms && value % u.ms === 0);
  if (!unit) return `\`${value}\``;
  const count = value / unit.ms;
  return lang === 'en' ? `\`${value}\` (${count} ${unit.en})` : `\`${value}\`（${count} ${unit.zh}）`;
}

function literal(value: unknown): string {
  return `\`${typeof value === 'string' ? value || "''" : JSON.stringify(value)}\``;
}

/** The default cell of an option: its doc, its value, "required" or "none". */
export function defaultCell(key: string, spec: OptionSpec, lang: Lang): string {
  if (spec.defaultDoc) return spec.defaultDoc[lang];
  if (spec.required) return WORDS[lang].required;
  if (!('default' in spec)) return WORDS[lang].none;
  return typeof spec.default === 'number' && key.endsWith('Ms') ? duration(spec.default, lang) : literal(spec.default);
}

function rows(declaration: object, lang: Lang, prefix: string): string[][] {
  return entries(declaration).flatMap(([key, spec]: [string, Spec]): string[][] => {
    const name = `${prefix}${key}`;
    if (isGroup(spec)) return rows(spec.options, lang, `${name}.`);
    if (isAlias(spec)) return [[`\`${name}\``, '', WORDS[lang].alias(`${prefix}${spec.aliasOf}`, spec.seconds)]];
    return [[`\`${name}\``, defaultCell(key, spec, lang), spec.doc[lang]]];
  });
}

/** A markdown table; a "|" inside a cell is escaped. */
export function markdownTable(header: readonly string[], body: string[][]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...body.map(line)].join('\n');
}

/** The options table of a declaration: one row per option, aliases below what they stand for. */
export function optionsTable(declaration: object, lang: Lang): string {
  const header = lang === 'en' ? ['option', 'default', 'meaning'] : ['配置项', '默认值', '说明'];
  return markdownTable(header, rows(declaration, lang, ''));
}
