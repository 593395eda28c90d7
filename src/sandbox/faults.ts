import type { KeyChoice } from './platform-keys.js';
import { ApiError } from './reply.js';
import { rules } from './validate.js';

// Trouble on demand (PUT /sandbox/faults), so clients can be tested against what the real
// service sometimes does: errors, slowness, dropped connections, lost answers, answers and
// notifications that fail verification (WeChat Pay sends signature probes in both:
// pay.weixin.qq.com/doc/v3/merchant/4016241880).

export interface Fault {
  /** Answer this status with `{code, message}` instead of handling the request. */
  status?: number;
  code?: string;
  /** Handle the request, then hold the answer this long (the change IS applied). */
  latency_ms?: number;
  /** Handle the request (the change IS applied), then never answer: drop the connection after this long. */
  hang_after_ms?: number;
  /** Destroy the socket without answering, before handling. */
  reset?: boolean;
  /** Handle normally but send a Wechatpay-Signature that does not verify. */
  bad_signature?: boolean;
  /** Handle normally but send a signature probe: Wechatpay-Signature WECHATPAY/SIGNTEST/…. */
  signature_probe?: boolean;
  /** Sign with this platform key whatever the behaviour says. */
  sign_with?: KeyChoice;
  /** Applies to notification deliveries (signature faults only) instead of /v3/ and /sns/ requests. */
  notification?: boolean;
  /** Requests (or deliveries) still to affect; null = until DELETE /sandbox/faults. */
  times: number | null;
  /** Prefix of the request path this applies to. */
  path: string;
  /** Only requests with this method (e.g. PATCH), when set. */
  method?: string;
}

/** What applies to one request or delivery: the union of every matching fault. */
export type AppliedFault = Omit<Fault, 'times' | 'path' | 'method' | 'notification'>;

const MAX_MS = 600_000;

function duration(body: Record<string, unknown>, key: string): number | undefined {
  const ms = rules.int(body, key, false);
  if (ms !== undefined && (ms < 0 || ms > MAX_MS)) throw new ApiError(400, 'PARAM_ERROR', `${key}: must be 0..600000`);
  return ms;
}

function parseFault(value: unknown): Fault {
  const body = rules.expectObject(value, 'fault');
  rules.onlyKnown(body, [
    'status',
    'code',
    'latency_ms',
    'hang_after_ms',
    'reset',
    'bad_signature',
    'signature_probe',
    'sign_with',
    'notification',
    'times',
    'path',
    'method',
  ]);
  const status = rules.int(body, 'status', false);
  if (status !== undefined && (status < 100 || status > 599))
    throw new ApiError(400, 'PARAM_ERROR', 'status: must be an HTTP status');
  const times = rules.int(body, 'times', false);
  if (times !== undefined && times < 1) throw new ApiError(400, 'PARAM_ERROR', 'times: must be at least 1');
  const signWith = rules.str(body, 'sign_with', { max: 16 });
  if (signWith !== undefined && signWith !== 'publicKey' && signWith !== 'certificate')
    throw new ApiError(400, 'PARAM_ERROR', "sign_with: 'publicKey' or 'certificate'");
  const fault: Fault = {
    status,
    code: rules.str(body, 'code', { max: 64 }),
    latency_ms: duration(body, 'latency_ms'),
    hang_after_ms: duration(body, 'hang_after_ms'),
    reset: rules.bool(body, 'reset'),
    bad_signature: rules.bool(body, 'bad_signature'),
    signature_probe: rules.bool(body, 'signature_probe'),
    sign_with: signWith,
    notification: rules.bool(body, 'notification'),
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
  const signatureFault = fault.bad_signature || fault.signature_probe || fault.sign_with !== undefined;
  if (fault.notification) {
    const requestOnly = ['status', 'latency_ms', 'hang_after_ms', 'reset', 'path', 'method'] as const;
    const wrong = requestOnly.find((k) => body[k] !== undefined);
    if (wrong) throw new ApiError(400, 'PARAM_ERROR', `${wrong}: not for a notification fault`);
    if (!signatureFault)
      throw new ApiError(400, 'PARAM_ERROR', 'a notification fault needs bad_signature, signature_probe or sign_with');
  } else if (
    fault.status === undefined &&
    fault.latency_ms === undefined &&
    fault.hang_after_ms === undefined &&
    !fault.reset &&
    !signatureFault
  ) {
    throw new ApiError(
      400,
      'PARAM_ERROR',
      'a fault needs status, latency_ms, hang_after_ms, reset, bad_signature, signature_probe or sign_with',
    );
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
    return this.use(
      (f) => !f.notification && pathname.startsWith(f.path) && (f.method === undefined || f.method === method),
    );
  }

  /** The faults for one notification delivery. */
  takeNotification(): AppliedFault | undefined {
    return this.use((f) => f.notification === true);
  }

  private use(matches: (f: Fault) => boolean): AppliedFault | undefined {
    const matching = this.active.filter(matches);
    if (matching.length === 0) return undefined;
    const applied: AppliedFault = {};
    for (const f of matching) {
      if (f.status !== undefined) {
        applied.status = f.status;
        applied.code = f.code ?? defaultCode(f.status);
      }
      if (f.latency_ms !== undefined) applied.latency_ms = Math.max(applied.latency_ms ?? 0, f.latency_ms);
      if (f.hang_after_ms !== undefined) applied.hang_after_ms = Math.max(applied.hang_after_ms ?? 0, f.hang_after_ms);
      if (f.reset) applied.reset = true;
      if (f.bad_signature) applied.bad_signature = true;
      if (f.signature_probe) applied.signature_probe = true;
      if (f.sign_with) applied.sign_with = f.sign_with;
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
