// What the property-based tests (test/hardening/properties.test.ts) throw at us: random text with
// the characters that break things (NUL, lone surrogates, quotes, percent signs), JSON of any shape,
// raw bytes, headers and query strings; a raw HTTP client that sends exactly those bytes; and a
// snapshot of a SQLite store read through a connection of its own, so "nothing changed" is checked
// against the file itself, not through our code.
import { request } from 'node:http';
import fc from 'fast-check';
import { loadSqlite } from '../../src/store/drivers.js';
import { POSTGRES_URL, type TestStore } from './services.js';

/** Cases per property: MEMBERCARD_FUZZ_RUNS, else 200 (what CI runs). */
export const RUNS = Number(process.env['MEMBERCARD_FUZZ_RUNS'] || 200);

/** One character: any code point, or one of those that have broken parsers and databases before. */
const char = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('\u0000', '\ud800', '\udfff', '\u202e', '\ufeff', '"', '\\', '%', '/', '.', ':', '\n'),
  },
);

export const text = (maxLength = 40) => fc.string({ unit: char, maxLength });

/** Printable ASCII, as a header value may hold. */
export const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });

/** A JSON value of any shape; object keys are random or the names `fields` (a route's own, or ours). */
export function json(fields: readonly string[]): fc.Arbitrary<unknown> {
  const key = fc.oneof(text(12), fc.constantFrom(...fields, ...IDENTIFYING, '__proto__', 'constructor'));
  const leaf = fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(0, -1, 2 ** 53, -(2 ** 53), 1e308, 0.5, 1e-7),
    text(),
    fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  );
  return fc.letrec<{ value: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 4 }),
    object: fc.dictionary(key, tie('value'), { maxKeys: 6 }),
  })).value;
}

const bigBody = Object.assign(Buffer.from(`{"x":"${'y'.repeat(70_000)}"}`), {
  [fc.toStringMethod]: () => 'Buffer(70 kB of JSON)',
});

/** The names a caller may never send, and others of ours. */
const IDENTIFYING = ['card_id', 'code', 'openid', 'unionid', 'membership_number', 'out_request_no', 'outer_str'];

/** A body: JSON (mostly an object with the route's fields), broken JSON, text, bytes, or none. */
export function body(fields: readonly string[]): fc.Arbitrary<Buffer | undefined> {
  const objectWithFields = fc
    .dictionary(fc.constantFrom(...fields, ...IDENTIFYING), json(fields), { minKeys: 1, maxKeys: fields.length + 1 })
    .map((o) => JSON.stringify(o));
  return fc.oneof(
    fc.constant(undefined),
    objectWithFields.map((s) => Buffer.from(s)),
    json(fields).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    objectWithFields.chain((s) => fc.nat(s.length).map((n) => Buffer.from(s.slice(0, n)))),
    text(200).map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    // Over every body limit (16 kB, 64 kB for notifications); shown as its size when a case fails.
    fc.constant(bigBody),
  );
}

export interface HeaderChoice {
  contentType?: string;
  contentEncoding?: string;
  /** 'SESSION' stands for a valid session token, put in by the test. */
  authorization?: string;
  /** 'ADMIN' stands for the valid admin token. */
  adminToken?: string;
  forwardedFor?: string;
  wechatpay?: Record<string, string>;
  extra: Record<string, string>;
}

const tokenChars = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_'.split('')),
  minLength: 43,
  maxLength: 43,
});

/** Headers: content type and encoding, credentials (valid, random or garbage), WeChat Pay's, others. */
export function headers(credentials: { session: boolean; admin: boolean }): fc.Arbitrary<HeaderChoice> {
  const bearer = fc.oneof(
    tokenChars.map((t) => `Bearer ${t}`),
    headerValue,
    ...(credentials.session ? [fc.constant('SESSION')] : []),
  );
  const headerName = fc
    .string({
      unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_!#$%&*+.^|~0123456789'.split('')),
      minLength: 1,
      maxLength: 20,
    })
    .filter((n) => !['content-length', 'transfer-encoding', 'host', 'connection', 'expect', 'upgrade'].includes(n));
  return fc.record(
    {
      contentType: fc.oneof(
        fc.constantFrom(
          'application/json',
          'application/json; charset=utf-8',
          'application/merge-patch+json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json; charset=latin1',
        ),
        headerValue,
      ),
      contentEncoding: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x-garbage', 'gzip, gzip'),
      authorization: bearer,
      adminToken: fc.oneof(headerValue, ...(credentials.admin ? [fc.constant('ADMIN')] : [])),
      forwardedFor: fc.oneof(fc.ipV4(), fc.ipV6(), headerValue),
      wechatpay: fc.record({
        'wechatpay-timestamp': fc.oneof(fc.nat().map(String), headerValue),
        'wechatpay-nonce': headerValue,
        'wechatpay-serial': headerValue,
        'wechatpay-signature': headerValue,
      }),
      extra: fc.dictionary(headerName, headerValue, { maxKeys: 3 }),
    },
    { requiredKeys: ['extra'] },
  );
}

/** A query string: names of ours and random ones, values of any text, sometimes broken escapes. */
export function query(names: readonly string[]): fc.Arbitrary<string> {
  const name = fc.oneof(fc.constantFrom(...names, ...IDENTIFYING), text(10));
  const pair = fc.tuple(name, text(30)).map(([k, v]) => `${enc(k)}=${enc(v)}`);
  return fc
    .tuple(fc.array(pair, { maxLength: 5 }), fc.constantFrom('', '&%zz', '&a=%E0%A4%A', '&&=', '&x[]=1&x[]=2'))
    .map(([pairs, tail]) => (pairs.length || tail ? `?${pairs.join('&')}${tail}` : ''));
}

/** encodeURIComponent that survives lone surrogates (it would throw): they go as raw %ED escapes. */
function enc(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...value]
      .map((c) => (c.length === 1 && /[\ud800-\udfff]/.test(c) ? '%ED%A0%80' : encodeURIComponent(c)))
      .join('');
  }
}

export { enc as encodeComponent };

export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Sends exactly these bytes and headers (node:http, not fetch, which would refuse or fix some). */
export function send(
  url: string,
  method: string,
  requestHeaders: Record<string, string>,
  payload: Buffer | undefined,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    // A body always says its length: without it a GET's bytes would be read as a second request.
    const framed = payload ? { ...requestHeaders, 'content-length': String(payload.length) } : requestHeaders;
    const req = request(url, { method, headers: framed, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Every row of every table of a store, read through a connection of its own, not through our code. */
export interface Snapshots {
  /** Every table but `skip`, each as a sorted list of its rows (as JSON text). */
  take(skip?: readonly string[]): Promise<Record<string, string[]>>;
  close(): Promise<void>;
}

/** Snapshots of a SQLite file or a PostgreSQL schema (the engines with tables to read). */
export async function snapshots(place: TestStore): Promise<Snapshots> {
  if (place.engine === 'sqlite') {
    const db = (await loadSqlite()).open(place.place, 5000);
    return {
      take: async (skip = []) => {
        const tables = (
          db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]
        ).map((t) => t.name);
        const out: Record<string, string[]> = {};
        for (const table of tables) {
          if (skip.includes(table) || table.startsWith('sqlite_')) continue;
          out[table] = (db.prepare(`SELECT * FROM "${table}"`).all() as object[]).map((r) => JSON.stringify(r)).sort();
        }
        return out;
      },
      close: async () => {
        db.close();
      },
    };
  }
  if (place.engine !== 'postgres') throw new Error(`no snapshots of ${place.engine}`);
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  // The schema is made by the store's first init, before the first snapshot, and no case changes it.
  const { rows } = await client.query<{ table_name: string }>(
    'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
    [place.place],
  );
  return {
    take: async (skip = []) => {
      const tables = rows.map((r) => r.table_name).filter((t) => !skip.includes(t));
      // One round trip: each table's rows as JSON text, sorted.
      const rowsOf = (t: string): string =>
        "SELECT coalesce(json_agg(row_to_json(x)::text ORDER BY row_to_json(x)::text), '[]') " +
        `FROM "${place.place}"."${t}" x`;
      const select = tables.map((t) => `'${t}', (${rowsOf(t)})`).join(', ');
      const result = await client.query<{ all: Record<string, string[]> }>(
        `SELECT json_build_object(${select}) AS all`,
      );
      return result.rows[0]?.all ?? {};
    },
    close: () => client.end(),
  };
}
