// A Code 128 encoder (ISO/IEC 15417) for the member code: code set C (two digits a symbol) for
// digits, code set B for printable ASCII, the modulo-103 check symbol. It gives the bar and space
// widths in modules; lib/code-canvas.ts draws them.

/** Bar, space, bar, space, bar, space widths of symbols 0-105 (each 11 modules); 106 is the stop (13). */
const PATTERNS = (
  '212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 112232 122132 ' +
  '122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 311222 321122 321221 312212 ' +
  '322112 322211 212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 231113 231311 ' +
  '112133 112331 132131 113123 113321 133121 313121 211331 231131 213113 213311 213131 311123 311321 ' +
  '331121 312113 312311 332111 314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 ' +
  '112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212 ' +
  '124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 114311 411113 ' +
  '411311 113141 114131 311141 411131 211412 211214 211232 2331112'
).split(' ');

const START_B = 104;
const START_C = 105;
const CODE_C = 99;
const STOP = 106;

/** The symbol values for `text`: digits in code set C (an odd first digit in B), else code set B. */
export function code128Symbols(text: string): number[] {
  if (!text || !/^[\x20-\x7e]+$/.test(text)) throw new RangeError('Code 128 here takes printable ASCII only');
  const symbols: number[] = [];
  if (/^\d+$/.test(text)) {
    let rest = text;
    if (rest.length % 2) {
      symbols.push(START_B, rest.charCodeAt(0) - 32, CODE_C);
      rest = rest.slice(1);
    } else {
      symbols.push(START_C);
    }
    for (let i = 0; i < rest.length; i += 2) symbols.push(Number(rest.slice(i, i + 2)));
  } else {
    symbols.push(START_B);
    for (let i = 0; i < text.length; i++) symbols.push(text.charCodeAt(i) - 32);
  }
  let check = symbols[0] as number;
  for (let i = 1; i < symbols.length; i++) check += (symbols[i] as number) * i;
  symbols.push(check % 103, STOP);
  return symbols;
}

/** The widths, in modules, of every bar and space in turn (a bar first), start to stop. */
export function encodeCode128(text: string): number[] {
  const widths: number[] = [];
  for (const symbol of code128Symbols(text)) {
    for (const w of PATTERNS[symbol] as string) widths.push(Number(w));
  }
  return widths;
}
