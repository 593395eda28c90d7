import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomRequestId } from './ids.js';
import type { PlatformKeys, PlatformSigner } from './platform-keys.js';
import { ApiError, type Reply } from './reply.js';
import { controlRefusal } from './control-guard.js';
import { handleControl, type ControlContext } from './routes-control.js';
import { handleSns } from './routes-sns.js';
import { handlePay, PAY_PREFIX } from './routes-pay.js';
import { handleV3 } from './routes-v3.js';
import { handleWxa } from './routes-wxa.js';
import { platformHeaders, RequestVerifier, SignatureError } from './signature.js';

// The HTTP front: reads each request, sends it to /v3/ (signed: member cards, payments), /sns/
// (login), /cgi-bin/ and /wxa/ (access token, delivery reports) or /sandbox/ (control), applies
// injected faults, signs /v3/ answers and logs what happened.

const MAX_BODY = 1024 * 1024;

/** What the control routes need, and what only the front needs besides. */
export interface ServerContext extends ControlContext {
  verifier: RequestVerifier;
  /** Which platform key signs each answer. */
  platform: PlatformKeys;
  log: (line: string) => void;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new BodyTooLarge('the body is larger than 1 MiB'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function errorReply(err: ApiError): Reply {
  return { status: err.status, body: err.toBody() };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The body as JSON for the request log, or its text when it is not JSON. */
function loggable(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class SandboxServer {
  readonly http: Server;
  /** Latency faults in progress; close() cuts them short. */
  private readonly delays = new Set<{ timer: NodeJS.Timeout; done: () => void }>();

  constructor(private readonly ctx: ServerContext) {
    this.http = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        ctx.log(`sandbox error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ code: 'SYSTEM_ERROR', message: 'sandbox internal error' }));
        }
      });
    });
  }

  /** Stops listening, drops open connections and pending latency timers. */
  async close(): Promise<void> {
    for (const d of this.delays) {
      clearTimeout(d.timer);
      d.done();
    }
    this.delays.clear();
    await new Promise<void>((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? '/';
    // Prefix rather than resolve: a target such as '//x/y' must stay a path, not become a host.
    const url = new URL(target.startsWith('/') ? `http://sandbox.invalid${target}` : target, 'http://sandbox.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    if (url.pathname === '/sandbox' || url.pathname.startsWith('/sandbox/')) {
      await this.control(req, res, method, url.pathname);
    } else if (url.pathname.startsWith('/v3/')) {
      await this.v3(req, res, method, target, url);
    } else if (['/sns/', '/cgi-bin/', '/wxa/'].some((prefix) => url.pathname.startsWith(prefix))) {
      await this.sns(req, res, method, url);
    } else {
      this.write(res, { status: 404, body: { code: 'NOT_FOUND', message: `nothing at ${url.pathname}` } });
    }
  }

  private async control(req: IncomingMessage, res: ServerResponse, method: string, pathname: string): Promise<void> {
    const refusal = controlRefusal(req);
    if (refusal) {
      req.resume();
      this.write(res, { status: 403, body: { code: 'FORBIDDEN', message: refusal } });
      return;
    }
    let reply: Reply;
    try {
      const raw = (await readBody(req)).toString('utf8');
      let body: unknown;
      if (raw.trim() !== '') {
        try {
          body = JSON.parse(raw);
        } catch {
          throw new ApiError(400, 'PARAM_ERROR', 'the body is not valid JSON');
        }
      }
      reply = handleControl(this.ctx, method, pathname, body);
    } catch (err) {
      reply = errorReply(this.asApiError(err));
    }
    this.write(res, reply);
  }

  private async v3(req: IncomingMessage, res: ServerResponse, method: string, target: string, url: URL): Promise<void> {
    const started = Date.now();
    const requestId = randomRequestId();
    const fault = this.ctx.faults.take(url.pathname, req.method ?? 'GET');
    const requestSerial = header(req, 'wechatpay-serial');
    let body: Buffer = Buffer.alloc(0);
    let signer: PlatformSigner | undefined;
    const record = (status: number, signatureValid: boolean): void => {
      this.ctx.requests.add({
        method,
        path: target,
        status,
        signature_valid: signatureValid,
        request_id: requestId,
        request_serial: requestSerial ?? null,
        answer_serial: signer?.serial ?? null,
        body: loggable(body),
      });
      const invalid = signatureValid ? '' : ' [signature invalid]';
      this.ctx.log(`${method} ${target} -> ${status || 'no answer'} (${Date.now() - started} ms)${invalid}`);
    };
    if (fault?.reset) {
      record(0, false);
      req.socket.destroy();
      return;
    }
    let reply: Reply;
    let signatureValid = false;
    try {
      body = await readBody(req);
      try {
        this.ctx.verifier.verify({ method, target, authorization: req.headers.authorization, body });
        signatureValid = true;
      } catch (err) {
        if (!(err instanceof SignatureError)) throw err;
        if (fault?.status === undefined) throw new ApiError(401, 'SIGN_ERROR', err.message);
      }
      if (fault?.status !== undefined) {
        reply = {
          status: fault.status,
          body: { code: fault.code, message: `fault injected by the sandbox (${fault.code})` },
        };
      } else {
        this.checkHeaders(req, requestSerial, body);
        const request = { method, pathname: url.pathname, query: url.searchParams, body: body.toString('utf8') };
        reply = url.pathname.startsWith(`${PAY_PREFIX}/`) ? handlePay(this.ctx, request) : handleV3(this.ctx, request);
      }
    } catch (err) {
      reply = errorReply(this.asApiError(err));
    }
    if (fault?.hang_after_ms !== undefined) {
      // Handled (a change IS applied), and the answer is lost: logged now, as nothing will be sent.
      record(0, signatureValid);
      if (await this.delay(fault.hang_after_ms)) req.socket.destroy();
      return;
    }
    if (!(await this.delay(fault?.latency_ms))) return;
    signer = this.ctx.platform.forAnswer(requestSerial, fault?.sign_with);
    this.writeSigned(res, reply, requestId, signer, {
      corrupt: fault?.bad_signature === true,
      probe: fault?.signature_probe === true,
    });
    record(reply.status, signatureValid);
  }

  /** The headers the behaviour switches make WeChat Pay look at, checked after the signature. */
  private checkHeaders(req: IncomingMessage, requestSerial: string | undefined, body: Buffer): void {
    const { requestSerial: rule, requireJsonHeaders } = this.ctx.behaviour.get();
    if (rule === 'require' && !requestSerial)
      throw new ApiError(400, 'INVALID_REQUEST', 'the Wechatpay-Serial header is required');
    if (rule !== 'ignore' && requestSerial && !this.ctx.platform.knows(requestSerial)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'Wechatpay-Serial names no platform key of this merchant');
    }
    if (!requireJsonHeaders) return;
    const accept = (header(req, 'accept') ?? '').toLowerCase();
    if (!accept.includes('application/json') && !accept.includes('*/*')) {
      throw new ApiError(400, 'PARAM_ERROR', 'Accept: must be application/json', {
        field: 'Accept',
        value: accept,
        issue: 'must be application/json',
        location: 'header',
      });
    }
    const type = (header(req, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (body.length > 0 && type !== 'application/json') {
      throw new ApiError(400, 'PARAM_ERROR', 'Content-Type: must be application/json', {
        field: 'Content-Type',
        value: type,
        issue: 'must be application/json',
        location: 'header',
      });
    }
  }

  private async sns(req: IncomingMessage, res: ServerResponse, method: string, url: URL): Promise<void> {
    const fault = this.ctx.faults.take(url.pathname, req.method ?? 'GET');
    // The query carries the mini-program secret (or an access token): log the path only.
    const record = (status: number): void => {
      this.ctx.requests.add({ method, path: url.pathname, status, signature_valid: null, request_id: null });
      this.ctx.log(`${method} ${url.pathname} -> ${status || 'reset'}`);
    };
    if (fault?.reset) {
      record(0);
      req.socket.destroy();
      return;
    }
    // /cgi-bin/ and /wxa/ are POST JSON (the access token and the delivery report); /sns/ is a GET.
    const body = method === 'POST' ? (await readBody(req)).toString('utf8') : (req.resume(), '');
    // WeChat's login API reports its errors as {errcode, errmsg}: a fault code that is a number
    // (e.g. 45011, -1) becomes the errcode, so "busy" and "rate limited" can be simulated.
    const reply: Reply =
      fault?.status !== undefined
        ? {
            status: fault.status,
            body: {
              errcode: /^-?\d+$/.test(fault.code ?? '') ? Number(fault.code) : -1,
              errmsg: `fault injected by the sandbox (${fault.code})`,
            },
          }
        : url.pathname.startsWith('/sns/')
          ? handleSns(this.ctx, url.pathname, url.searchParams)
          : handleWxa(this.ctx, method, url.pathname, url.searchParams, body);
    if (!(await this.delay(fault?.latency_ms))) return;
    this.write(res, reply);
    record(reply.status);
  }

  /** Waits out a latency or hang fault; false when the sandbox closed meanwhile. */
  private delay(ms: number | undefined): Promise<boolean> {
    if (!ms) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.delays.delete(entry);
          resolve(true);
        }, ms),
        done: () => resolve(false),
      };
      this.delays.add(entry);
    });
  }

  private asApiError(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    if (err instanceof BodyTooLarge) return new ApiError(413, 'PARAM_ERROR', err.message);
    this.ctx.log(`sandbox error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return new ApiError(500, 'SYSTEM_ERROR', 'sandbox internal error');
  }

  private write(res: ServerResponse, reply: Reply): void {
    if (res.destroyed) return;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(
      reply.status,
      reply.body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
    );
    res.end(text);
  }

  /** Every /v3/ answer, 204 and errors included, is signed by a platform key. */
  private writeSigned(
    res: ServerResponse,
    reply: Reply,
    requestId: string,
    signer: PlatformSigner,
    damage: { corrupt: boolean; probe: boolean },
  ): void {
    if (res.destroyed) return;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    const headers: Record<string, string | number> = {
      ...platformHeaders(text, signer, damage),
      'Request-ID': requestId,
    };
    if (reply.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(text);
    }
    res.writeHead(reply.status, headers);
    res.end(text);
  }
}
