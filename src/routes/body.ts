import type { Context, Middleware, Next } from 'koa';
import { koaBody } from 'koa-body';
import { MemberCardError } from '../errors.js';
import { malformedTextAt } from '../text.js';

/**
 * What reading a body can throw because of the client (a body that is not what its headers say, a
 * request cut short), as a 400 instead of a 500: it is their mistake, not our bug. Errors that carry
 * an HTTP status already (413, 415, a JSON syntax error) keep it.
 */
function clientBodyError(err: unknown): unknown {
  const e = err as { status?: unknown; code?: unknown } | null;
  if (typeof e?.status === 'number') return err;
  const code = typeof e?.code === 'string' ? e.code : '';
  // zlib: a Content-Encoding the bytes do not match; ECONNRESET / ECONNABORTED: the client went away.
  if (code.startsWith('Z_') || code.startsWith('ERR__') || code === 'ECONNRESET' || code === 'ECONNABORTED') {
    return new MemberCardError('INVALID_REQUEST', 'The request body could not be read.', { cause: err });
  }
  return err;
}

function hasBody(ctx: Context): boolean {
  const length = ctx.get('Content-Length');
  return Boolean(ctx.get('Transfer-Encoding')) || (length !== '' && length !== '0');
}

/**
 * Parses a JSON body (and keeps its raw text at ctx.request.rawBody), refusing anything that is
 * not JSON with 415 and anything larger than `limit` with 413. When a host's own body parser
 * already read the stream, its result is used instead of reading twice.
 */
export function jsonBody(limit: string | number): Middleware {
  const parse = koaBody({
    json: true,
    jsonLimit: limit,
    jsonStrict: true,
    includeUnparsed: true,
    urlencoded: false,
    text: false,
    multipart: false,
  });
  return async function readJsonBody(ctx: Context, next: Next): Promise<void> {
    if (ctx.req.readableEnded || ctx.request.body !== undefined) {
      await next();
      return;
    }
    if (hasBody(ctx) && !ctx.is('application/json', 'application/*+json')) {
      throw new MemberCardError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json.');
    }
    // Parse with a stand-in `next`, so an error thrown further down the chain is not taken for a
    // body error (koa-body calls next only once the body was read).
    let parsed = false;
    try {
      await parse(ctx, async () => {
        parsed = true;
      });
    } catch (err) {
      throw clientBodyError(err);
    }
    if (!parsed) return;
    const malformed = malformedTextAt(ctx.request.body);
    if (malformed !== undefined) {
      const issue = 'must be well-formed Unicode (it holds a lone surrogate)';
      throw new MemberCardError('INVALID_REQUEST', `"${malformed}" ${issue}.`, {
        details: [{ field: malformed, issue }],
      });
    }
    await next();
  };
}

/**
 * Reads the body as raw UTF-8 text into ctx.request.rawBody, up to `limitBytes` (413 beyond),
 * without parsing it: a signature is checked over these exact bytes before anything trusts them.
 */
export function rawTextBody(limitBytes: number): Middleware {
  return async function readRawBody(ctx: Context, next: Next): Promise<void> {
    if (rawBodyOf(ctx) !== undefined || ctx.req.readableEnded) {
      await next();
      return;
    }
    const declared = Number(ctx.get('Content-Length') || 0);
    if (declared > limitBytes) throw new MemberCardError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limitBytes) throw new MemberCardError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
        chunks.push(chunk);
      }
    } catch (err) {
      throw clientBodyError(err);
    }
    (ctx.request as { rawBody?: string }).rawBody = Buffer.concat(chunks).toString('utf8');
    await next();
  };
}

/** The raw body text; WeChat Pay's signatures cover exactly these bytes. */
export function rawBodyOf(ctx: Context): string | undefined {
  const raw = (ctx.request as { rawBody?: unknown }).rawBody;
  return typeof raw === 'string' ? raw : undefined;
}

/** Names the caller may never send: which card and whose card are ours to decide. */
const IDENTIFYING = new Set(['card_id', 'cardid', 'code', 'openid', 'unionid', 'membership_number', 'out_request_no']);

/** 400 when the query names a card or a user: the caller's card comes from their session only. */
export function rejectIdentifyingQuery(ctx: Context): void {
  // Most requests have no query at all: nothing to parse.
  if (!ctx.querystring) return;
  const fields = Object.keys(ctx.query).filter((name) => IDENTIFYING.has(name.toLowerCase()));
  if (fields.length) {
    throw new MemberCardError('INVALID_REQUEST', `"${fields[0]}" cannot be sent: your card is found from your login.`, {
      details: fields.map((field) => ({ field, issue: 'not allowed' })),
    });
  }
}
