import { ApiError } from './reply.js';
import { rules } from './validate.js';

// Trouble on demand (PUT /sandbox/faults), so clients can be tested against what the real
// service sometimes does: errors, slowness, dropped connections, answers that fail verification.

export interface Fault {
  /** Answer this status with `{code, message}` instead of handling the request. */
  status?: number;
  code?: string;
  /** Handle the request, then hold the answer this long (the change IS applied). */
  latency_ms?: number;
  /** Destroy the socket without answering, before handling. */
  reset?: boolean;
  /** Handle normally but send a Wechatpay-Signature that does not verify. */
  bad_signature?: boolean;
  /** Requests still to affect; null = until DELETE /sandbox/faults. */
  times: number | null;
  /** Prefix of the request path this applies to. */
  path: string;
  /** Only requests with this method (e.g. PATCH), when set. */
  method?: string;
}

/** What applies to one request: the union of every matching fault. */
export interface AppliedFault {
  status?: number;
  code?: string;
  latency_ms?: number;
  reset?: boolean;
  bad_signature?: boolean;
}

function parseFault(value: unknown): Fault {
  const body = rules.expectObject(value, 'fault');
  rules.onlyKnown(body, ['status', 'code', 'latency_ms', 'reset', 'bad_signature', 'times', 'path', 'method']);
  const status = rules.int(body, 'status', false);
  if (status !== undefined && (status < 100 || status > 599))
    throw new ApiError(400, 'PARAM_ERROR', 'status: must be an HTTP status');
  const latency = rules.int(body, 'latency_ms', false);
  if (latency !== undefined && (latency < 0 || latency > 600_000))
    throw new ApiError(400, 'PARAM_ERROR', 'latency_ms: must be 0..600000');
  const times = rules.int(body, 'times', false);
  if (times !== undefined && times < 1) throw new ApiError(400, 'PARAM_ERROR', 'times: must be at least 1');
  const fault: Fault = {
    status,
    code: rules.str(body, 'code', { max: 64 }),
    latency_ms: latency,
    reset: rules.bool(body, 'reset'),
    bad_signature: rules.bool(body, 'bad_signature'),
    times: times ?? null,
    path: rules.str(body, 'path', { max: 256 }) ?? '/v3/',
  };
  const method = rules.str(body, 'method', { max: 10 });
  if (method !== undefined) {
    if (!/^(GET|POST|PUT|PATCH|DELETE)$/i.test(method))
      throw new ApiError(400, 'PARAM_ERROR', 'method: must be GET, POST, PUT, PATCH or DELETE');
    fault.method = method.toUpperCase();
  }
  if (fault.code !== undefined && fault.status === undefined)
    throw new ApiError(400, 'PARAM_ERROR', 'code: needs a status');
  if (fault.status === undefined && fault.latency_ms === undefined && !fault.reset && !fault.bad_signature) {
    throw new ApiError(400, 'PARAM_ERROR', 'a fault needs status, latency_ms, reset or bad_signature');
  }
  return fault;
}

export class Faults {
  private active: Fault[] = [];

  /** PUT: one fault object (its kinds combine), or an array of them; replaces what was there. */
  set(body: unknown): Fault[] {
    const list = Array.isArray(body) ? body.map(parseFault) : [parseFault(body)];
    this.active = list;
    return this.list();
  }

  clear(): void {
    this.active = [];
  }

  list(): Fault[] {
    return this.active.map((f) => ({ ...f }));
  }

  /** The faults for this request, each one used up by one request. */
  take(pathname: string, method: string): AppliedFault | undefined {
    const matching = this.active.filter(
      (f) => pathname.startsWith(f.path) && (f.method === undefined || f.method === method),
    );
    if (matching.length === 0) return undefined;
    const applied: AppliedFault = {};
    for (const f of matching) {
      if (f.status !== undefined) {
        applied.status = f.status;
        applied.code = f.code ?? defaultCode(f.status);
      }
      if (f.latency_ms !== undefined) applied.latency_ms = Math.max(applied.latency_ms ?? 0, f.latency_ms);
      if (f.reset) applied.reset = true;
      if (f.bad_signature) applied.bad_signature = true;
      if (f.times !== null) f.times -= 1;
    }
    this.active = this.active.filter((f) => f.times === null || f.times > 0);
    return applied;
  }
}

/** The code WeChat Pay uses with each status, when the fault did not name one. */
function defaultCode(status: number): string {
  if (status === 429) return 'RATELIMIT_EXCEEDED';
  if (status === 401) return 'SIGN_ERROR';
  if (status === 403) return 'NO_AUTH';
  if (status === 404) return 'RESOURCE_NOT_EXISTS';
  if (status >= 500) return status === 500 ? 'SYSTEM_ERROR' : 'SERVICE_UNAVAILABLE';
  return 'INVALID_REQUEST';
}
