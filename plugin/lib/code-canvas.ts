// Draws the member code on a `<canvas type="2d">` node (base library 2.7.0+): whole device pixels
// per module, so a scanner (or a phone camera at the till) sees crisp edges on any screen.
import { encodeCode128 } from './barcode';
import { encodeQr } from './qr';

/** What we use of a canvas 2D node and its context (WechatMiniprogram.Canvas has more). */
export interface CodeCanvas {
  width: number;
  height: number;
  getContext(type: '2d'): CodeContext | null;
}

export interface CodeContext {
  fillStyle: unknown;
  fillRect(x: number, y: number, w: number, h: number): void;
}

/** Quiet zones, in modules, as the standards ask: 4 around a QR Code, 10 beside a Code 128. */
const QR_QUIET = 4;
const BAR_QUIET = 10;

function prepare(canvas: CodeCanvas, widthPx: number, heightPx: number): CodeContext {
  canvas.width = widthPx;
  canvas.height = heightPx;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('canvas 2d context unavailable');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, widthPx, heightPx);
  ctx.fillStyle = '#000000';
  return ctx;
}

/** A QR Code of `text`, centred on a square canvas of `sizePx` device pixels. */
export function drawQr(canvas: CodeCanvas, text: string, sizePx: number): void {
  const qr = encodeQr(text);
  const size = Math.max(1, Math.floor(sizePx));
  const module = Math.max(1, Math.floor(size / (qr.size + 2 * QR_QUIET)));
  const offset = Math.floor((size - module * qr.size) / 2);
  const ctx = prepare(canvas, size, size);
  qr.modules.forEach((row, r) =>
    row.forEach((dark, c) => {
      if (dark) ctx.fillRect(offset + c * module, offset + r * module, module, module);
    }),
  );
}

/** A Code 128 barcode of `text`, centred on a canvas of `widthPx` × `heightPx` device pixels. */
export function drawBarcode(canvas: CodeCanvas, text: string, widthPx: number, heightPx: number): void {
  const widths = encodeCode128(text);
  const modules = widths.reduce((a, b) => a + b, 0);
  const width = Math.max(1, Math.floor(widthPx));
  const height = Math.max(1, Math.floor(heightPx));
  const module = Math.max(1, Math.floor(width / (modules + 2 * BAR_QUIET)));
  let x = Math.floor((width - module * modules) / 2);
  const ctx = prepare(canvas, width, height);
  widths.forEach((w, i) => {
    if (i % 2 === 0) ctx.fillRect(x, 0, w * module, height);
    x += w * module;
  });
}
