import { WECHAT_LOGIN_OPTIONS } from '../../src/login/options.js';
import { BEHAVIOUR } from '../../src/sandbox/behaviour.js';
import { ENV, type EnvSpec } from '../../src/server/config.js';
import { isAlias, isGroup, specAt } from '../../src/options/declare.js';
import { defaultCell, markdownTable, optionsTable, type Lang } from './tables.js';
import { MEMBER_CARD_OPTIONS } from '../../src/options/member-card.js';

// The README's generated tables (scripts/options-docs.mjs writes them, a test fails when stale).

export const READMES: Record<Lang, string> = { en: 'README.md', zh: 'README.zh-CN.md' };

const DECLARATIONS: Record<string, object> = {
  'memberCard()': MEMBER_CARD_OPTIONS,
  'wechatLogin()': WECHAT_LOGIN_OPTIONS,
};

const REQUIRED = { en: 'required with `WECHATPAY_MCHID`', zh: '设置 `WECHATPAY_MCHID` 时必填' };
const NONE = { en: 'none', zh: '无' };

/** A variable's default: its own, or that of the first option it feeds. */
function envDefault(spec: EnvSpec, lang: Lang): string {
  if (spec.defaultDoc) return spec.defaultDoc[lang];
  if (spec.required) return REQUIRED[lang];
  if (spec.default !== undefined) return `\`${spec.default}\``;
  const feeds = spec.feeds?.[0];
  const declaration = feeds && DECLARATIONS[feeds.factory];
  const option = declaration && specAt(declaration, feeds.option);
  if (!feeds || !option || isAlias(option) || isGroup(option)) return NONE[lang];
  return defaultCell(feeds.option.split('.').pop() ?? '', option, lang);
}

function envTable(lang: Lang): string {
  const header = lang === 'en' ? ['variable', 'default', 'meaning'] : ['环境变量', '默认值', '说明'];
  const specs: [string, EnvSpec][] = Object.entries(ENV);
  return markdownTable(
    header,
    specs.map(([name, spec]) => [`\`${name}\``, envDefault(spec, lang), spec[lang]]),
  );
}

/** The sandbox's behaviour switches: each one's values, the default first. */
function behaviourTable(lang: Lang): string {
  const header =
    lang === 'en' ? ['switch', 'values (default first)', 'meaning'] : ['开关', '取值（首个为默认值）', '说明'];
  return markdownTable(
    header,
    Object.entries(BEHAVIOUR).map(([name, s]) => [
      `\`${name}\``,
      s.values.map((v) => `\`${String(v)}\``).join(' · '),
      s[lang],
    ]),
  );
}

/** Each generated table by the name of its markers, `<!-- options:NAME -->` … `<!-- /options:NAME -->`. */
export function readmeTables(lang: Lang): Record<string, string> {
  return {
    memberCard: optionsTable(MEMBER_CARD_OPTIONS, lang),
    wechatLogin: optionsTable(WECHAT_LOGIN_OPTIONS, lang),
    serve: envTable(lang),
    sandboxBehaviour: behaviourTable(lang),
  };
}

/** The README text with every generated table put between its markers; a missing marker is an error. */
export function withTables(text: string, tables: Record<string, string>): string {
  let out = text;
  for (const [name, table] of Object.entries(tables)) {
    const open = `<!-- options:${name} -->`;
    const close = `<!-- /options:${name} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 || end < start) throw new Error(`no ${open} … ${close} markers`);
    out = `${out.slice(0, start + open.length)}\n${table}\n${out.slice(end)}`;
  }
  return out;
}
