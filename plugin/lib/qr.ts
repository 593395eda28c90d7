// A small QR Code encoder (ISO/IEC 18004), enough for a member code: versions 1-10, error correction
// level M, numeric mode for digits (an 18-digit code fits version 1) and byte mode (UTF-8) for
// anything else, the mask chosen by the standard's penalty rules. Pure JS, no network, no canvas:
// it gives the module matrix, and lib/code-canvas.ts draws it.

/** Per version 1-10 at level M: error-correction codewords per block, and the blocks' data codewords. */
const BLOCKS_M: ReadonlyArray<{ ec: number; data: number[] }> = [
  { ec: 10, data: [16] },
  { ec: 16, data: [28] },
  { ec: 26, data: [44] },
  { ec: 18, data: [32, 32] },
  { ec: 24, data: [43, 43] },
  { ec: 16, data: [27, 27, 27, 27] },
  { ec: 18, data: [31, 31, 31, 31] },
  { ec: 22, data: [38, 38, 39, 39] },
  { ec: 22, data: [36, 36, 36, 37, 37] },
  { ec: 26, data: [43, 43, 43, 43, 44] },
];

/** Centres of the alignment patterns, versions 2-10 (version 1 has none). */
const ALIGNMENT: ReadonlyArray<number[]> = [
  [],
  [6, 18],
  [6, 22],
  [6, 26],
  [6, 30],
  [6, 34],
  [6, 22, 38],
  [6, 24, 42],
  [6, 26, 46],
  [6, 28, 50],
];

/** A square of modules: true is dark. */
export interface QrMatrix {
  size: number;
  version: number;
  modules: boolean[][];
}

// ---------------------------------------------------------------- GF(256) and Reed-Solomon

const EXP: number[] = [];
const LOG: number[] = [];
(function tables() {
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] as number;
})();

function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : (EXP[(LOG[a] as number) + (LOG[b] as number)] as number);
}

/** The generator polynomial of degree n, highest coefficient first (leading 1 left out). */
function generator(n: number): number[] {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array<number>(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] = (next[j] as number) ^ (poly[j] as number);
      next[j + 1] = (next[j + 1] as number) ^ gfMul(poly[j] as number, EXP[i] as number);
    }
    poly = next;
  }
  return poly.slice(1);
}

function ecCodewords(data: number[], n: number): number[] {
  const gen = generator(n);
  const rest = new Array<number>(n).fill(0);
  for (const byte of data) {
    const factor = byte ^ (rest.shift() as number);
    rest.push(0);
    for (let i = 0; i < n; i++) rest[i] = (rest[i] as number) ^ gfMul(gen[i] as number, factor);
  }
  return rest;
}

// ---------------------------------------------------------------- data bits

function utf8(text: string): number[] {
  const bytes: number[] = [];
  const encoded = unescape(encodeURIComponent(text));
  for (let i = 0; i < encoded.length; i++) bytes.push(encoded.charCodeAt(i));
  return bytes;
}

class Bits {
  readonly bits: number[] = [];
  put(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.bits.push((value >>> i) & 1);
  }
}

/** The data codewords of `text` for `version`, or undefined when it does not fit. */
function dataCodewords(text: string, version: number): number[] | undefined {
  const numeric = /^\d+$/.test(text);
  const capacity = (BLOCKS_M[version - 1] as { data: number[] }).data.reduce((a, b) => a + b, 0);
  const bits = new Bits();
  if (numeric) {
    bits.put(0b0001, 4);
    bits.put(text.length, version < 10 ? 10 : 12);
    for (let i = 0; i < text.length; i += 3) {
      const group = text.slice(i, i + 3);
      bits.put(Number(group), group.length * 3 + 1);
    }
  } else {
    const bytes = utf8(text);
    bits.put(0b0100, 4);
    bits.put(bytes.length, version < 10 ? 8 : 16);
    for (const b of bytes) bits.put(b, 8);
  }
  if (bits.bits.length > capacity * 8) return undefined;
  bits.put(0, Math.min(4, capacity * 8 - bits.bits.length)); // terminator
  while (bits.bits.length % 8) bits.bits.push(0);
  const words: number[] = [];
  for (let i = 0; i < bits.bits.length; i += 8) {
    let byte = 0;
    for (let j = 0; j < 8; j++) byte = (byte << 1) | (bits.bits[i + j] as number);
    words.push(byte);
  }
  for (let pad = 0; words.length < capacity; pad++) words.push(pad % 2 ? 0x11 : 0xec);
  return words;
}

/** Data and error-correction codewords, split into blocks and interleaved as the standard orders them. */
function interleaved(data: number[], version: number): number[] {
  const { ec, data: sizes } = BLOCKS_M[version - 1] as { ec: number; data: number[] };
  const blocks: number[][] = [];
  let at = 0;
  for (const size of sizes) {
    blocks.push(data.slice(at, at + size));
    at += size;
  }
  const ecs = blocks.map((block) => ecCodewords(block, ec));
  const out: number[] = [];
  for (let i = 0; i < Math.max(...sizes); i++)
    for (const block of blocks) if (i < block.length) out.push(block[i] as number);
  for (let i = 0; i < ec; i++) for (const block of ecs) out.push(block[i] as number);
  return out;
}

// ---------------------------------------------------------------- the matrix

interface Grid {
  size: number;
  dark: boolean[][];
  /** Function patterns and format areas: not data, never masked. */
  reserved: boolean[][];
}

function grid(size: number): Grid {
  const rows = (): boolean[][] => Array.from({ length: size }, () => new Array<boolean>(size).fill(false));
  return { size, dark: rows(), reserved: rows() };
}

function set(g: Grid, row: number, col: number, dark: boolean): void {
  (g.dark[row] as boolean[])[col] = dark;
  (g.reserved[row] as boolean[])[col] = true;
}

function finder(g: Grid, top: number, left: number): void {
  for (let r = -1; r <= 7; r++) {
    for (let c = -1; c <= 7; c++) {
      const row = top + r;
      const col = left + c;
      if (row < 0 || col < 0 || row >= g.size || col >= g.size) continue;
      const ring = Math.max(Math.abs(r - 3), Math.abs(c - 3));
      set(g, row, col, ring !== 2 && ring !== 4);
    }
  }
}

function functionPatterns(g: Grid, version: number): void {
  finder(g, 0, 0);
  finder(g, 0, g.size - 7);
  finder(g, g.size - 7, 0);
  for (let i = 8; i < g.size - 8; i++) {
    set(g, 6, i, i % 2 === 0);
    set(g, i, 6, i % 2 === 0);
  }
  const centres = ALIGNMENT[version - 1] as number[];
  for (const r of centres) {
    for (const c of centres) {
      // Not on the finder patterns.
      if ((r === 6 && c === 6) || (r === 6 && c === g.size - 7) || (r === g.size - 7 && c === 6)) continue;
      for (let dr = -2; dr <= 2; dr++)
        for (let dc = -2; dc <= 2; dc++) set(g, r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) !== 1);
    }
  }
  // Format areas (filled in later) and the dark module.
  for (let i = 0; i < 9; i++) {
    set(g, 8, i, false);
    set(g, i, 8, false);
  }
  for (let i = 0; i < 8; i++) {
    set(g, 8, g.size - 1 - i, false);
    set(g, g.size - 1 - i, 8, false);
  }
  set(g, g.size - 8, 8, true);
  if (version >= 7) {
    let rem = version;
    for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    const bits = (version << 12) | rem;
    for (let i = 0; i < 18; i++) {
      const bit = ((bits >>> i) & 1) === 1;
      const a = g.size - 11 + (i % 3);
      const b = Math.floor(i / 3);
      set(g, a, b, bit);
      set(g, b, a, bit);
    }
  }
}

/** Data bits in the standard's zigzag: two-column strips from the right, up then down, skipping column 6. */
function placeData(g: Grid, codewords: number[]): void {
  let bit = 0;
  const total = codewords.length * 8;
  for (let right = g.size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < g.size; vert++) {
      for (let j = 0; j < 2; j++) {
        const col = right - j;
        const upward = ((right + 1) & 2) === 0;
        const row = upward ? g.size - 1 - vert : vert;
        if ((g.reserved[row] as boolean[])[col]) continue;
        if (bit < total) {
          const byte = codewords[bit >>> 3] as number;
          (g.dark[row] as boolean[])[col] = ((byte >>> (7 - (bit & 7))) & 1) === 1;
        }
        bit++;
      }
    }
  }
}

const MASKS: ReadonlyArray<(r: number, c: number) => boolean> = [
  (r, c) => (r + c) % 2 === 0,
  (r) => r % 2 === 0,
  (_r, c) => c % 3 === 0,
  (r, c) => (r + c) % 3 === 0,
  (r, c) => (Math.floor(r / 2) + Math.floor(c / 3)) % 2 === 0,
  (r, c) => ((r * c) % 2) + ((r * c) % 3) === 0,
  (r, c) => (((r * c) % 2) + ((r * c) % 3)) % 2 === 0,
  (r, c) => (((r + c) % 2) + ((r * c) % 3)) % 2 === 0,
];

function masked(g: Grid, mask: number): boolean[][] {
  const fn = MASKS[mask] as (r: number, c: number) => boolean;
  return g.dark.map((row, r) => row.map((dark, c) => ((g.reserved[r] as boolean[])[c] ? dark : dark !== fn(r, c))));
}

/** Level M (bits 00) and the mask, BCH-protected and XORed with the standard's pattern. */
function formatBits(mask: number): number {
  const data = mask; // (0b00 << 3) | mask
  let rem = data;
  for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
  return ((data << 10) | rem) ^ 0x5412;
}

function placeFormat(m: boolean[][], mask: number): void {
  const size = m.length;
  const bits = formatBits(mask);
  const bit = (i: number): boolean => ((bits >>> i) & 1) === 1;
  const put = (r: number, c: number, v: boolean) => ((m[r] as boolean[])[c] = v);
  for (let i = 0; i <= 5; i++) put(i, 8, bit(i));
  put(7, 8, bit(6));
  put(8, 8, bit(7));
  put(8, 7, bit(8));
  for (let i = 9; i < 15; i++) put(8, 14 - i, bit(i));
  for (let i = 0; i < 8; i++) put(8, size - 1 - i, bit(i));
  for (let i = 8; i < 15; i++) put(size - 15 + i, 8, bit(i));
}

/** The standard's four penalty rules: runs, 2×2 blocks, finder-like patterns, dark balance. */
function penalty(m: boolean[][]): number {
  const size = m.length;
  let score = 0;
  const at = (r: number, c: number): boolean => (m[r] as boolean[])[c] as boolean;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < size; i++) {
      let run = 1;
      const line: boolean[] = [];
      for (let j = 0; j < size; j++) {
        const v = pass === 0 ? at(i, j) : at(j, i);
        line.push(v);
        if (j > 0 && v === line[j - 1]) run++;
        else {
          if (run >= 5) score += run - 2;
          run = 1;
        }
      }
      if (run >= 5) score += run - 2;
      const text = line.map((v) => (v ? '1' : '0')).join('');
      for (const pattern of ['10111010000', '00001011101']) {
        for (let k = text.indexOf(pattern); k !== -1; k = text.indexOf(pattern, k + 1)) score += 40;
      }
    }
  }
  for (let r = 0; r < size - 1; r++)
    for (let c = 0; c < size - 1; c++) {
      const v = at(r, c);
      if (v === at(r, c + 1) && v === at(r + 1, c) && v === at(r + 1, c + 1)) score += 3;
    }
  let dark = 0;
  for (const row of m) for (const v of row) if (v) dark++;
  score += Math.floor(Math.abs((dark * 20) / (size * size) - 10)) * 10;
  return score;
}

/** The QR Code of `text` at level M, in the smallest version (1-10) it fits; throws when it is too long. */
export function encodeQr(text: string): QrMatrix {
  for (let version = 1; version <= BLOCKS_M.length; version++) {
    const data = dataCodewords(text, version);
    if (!data) continue;
    const g = grid(17 + 4 * version);
    functionPatterns(g, version);
    placeData(g, interleaved(data, version));
    let best: boolean[][] | undefined;
    let bestScore = Infinity;
    for (let mask = 0; mask < MASKS.length; mask++) {
      const candidate = masked(g, mask);
      placeFormat(candidate, mask);
      const score = penalty(candidate);
      if (score < bestScore) {
        best = candidate;
        bestScore = score;
      }
    }
    return { size: g.size, version, modules: best as boolean[][] };
  }
  throw new RangeError('too long for a QR Code of version 10');
}
