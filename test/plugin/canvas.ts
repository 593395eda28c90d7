// A stand-in for the node a `<canvas type="2d">` gives through SelectorQuery.fields({ node: true }):
// its context rasterises what the component draws into RGBA pixels (only what a code needs:
// fillStyle as a #rrggbb colour, fillRect, clearRect), so a test can read back the very pixels and
// decode them. What WeChat's canvas refuses, this refuses too: a context other than '2d', a size
// that is not a whole number of pixels, drawing before the size is set.

function parseColour(value: unknown): [number, number, number] {
  if (typeof value !== 'string') throw new TypeError(`fillStyle must be a colour string, got ${typeof value}`);
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(value)?.[1];
  if (!hex) throw new TypeError(`this stand-in knows #rgb and #rrggbb colours only, got ${value}`);
  const full = hex.length === 3 ? [...hex].map((c) => c + c).join('') : hex;
  return [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16)) as [number, number, number];
}

export class Canvas2dContext {
  #fill: [number, number, number] = [0, 0, 0];
  #fillStyle: unknown = '#000000';
  constructor(private readonly canvas: StandInCanvas) {}

  get fillStyle(): unknown {
    return this.#fillStyle;
  }

  set fillStyle(value: unknown) {
    this.#fill = parseColour(value);
    this.#fillStyle = value;
  }

  fillRect(x: number, y: number, w: number, h: number): void {
    this.#paint(x, y, w, h, [...this.#fill, 255]);
  }

  clearRect(x: number, y: number, w: number, h: number): void {
    this.#paint(x, y, w, h, [0, 0, 0, 0]);
  }

  #paint(x: number, y: number, w: number, h: number, rgba: number[]): void {
    const { width, height, pixels } = this.canvas;
    const [x0, x1] = [Math.max(0, Math.round(x)), Math.min(width, Math.round(x + w))];
    const [y0, y1] = [Math.max(0, Math.round(y)), Math.min(height, Math.round(y + h))];
    for (let row = y0; row < y1; row++) for (let col = x0; col < x1; col++) pixels.set(rgba, (row * width + col) * 4);
  }
}

export class StandInCanvas {
  #width = 300;
  #height = 150;
  pixels = new Uint8ClampedArray(300 * 150 * 4);
  #context: Canvas2dContext | undefined;

  get width(): number {
    return this.#width;
  }

  set width(value: number) {
    this.#resize(value, this.#height);
  }

  get height(): number {
    return this.#height;
  }

  set height(value: number) {
    this.#resize(this.#width, value);
  }

  getContext(type: string): Canvas2dContext | null {
    if (type !== '2d') return null;
    this.#context ??= new Canvas2dContext(this);
    return this.#context;
  }

  /** Whether the pixel is dark (a drawn module), for reading a code back. */
  dark(col: number, row: number): boolean {
    const i = (row * this.#width + col) * 4;
    return (this.pixels[i + 3] as number) > 0 && (this.pixels[i] as number) < 128;
  }

  #resize(width: number, height: number): void {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0)
      throw new RangeError(`canvas size must be whole pixels, got ${width}×${height}`);
    // As on the web: setting the size clears the canvas.
    this.#width = width;
    this.#height = height;
    this.pixels = new Uint8ClampedArray(width * height * 4);
  }
}
