// What the host mini-program hands the component through `configure(...)` (the plugin's `main`, or
// the npm package's index). The host owns the session and, ideally, the network: a plugin's own
// wx.request goes through the plugin's request-domain list, not the host's.

/** What the component asks the host's `request` to send: the options wx.request takes. */
export interface RequestOptions {
  url: string;
  /** wx.request has no PATCH: edits go as PUT, which the back end treats like PATCH. */
  method: 'GET' | 'PUT' | 'POST';
  header: Record<string, string>;
  data?: Record<string, unknown>;
  /** Milliseconds. */
  timeout: number;
}

/** What the host's `request` resolves with: wx.request's success result, any status. */
export interface RequestResult {
  statusCode: number;
  data: unknown;
  header?: Record<string, string>;
}

/**
 * The host's own request function: resolves with any HTTP answer, rejects only when there is none
 * (network failure). Reject with `{ kind: 'login' }` when the host has no session for the user: the
 * component then shows its "请先登录" state.
 */
export type HostRequest = (options: RequestOptions) => Promise<RequestResult>;

export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export interface MemberCardConfig {
  /** Where the host mounted the member-card router, e.g. `https://shop.example.com/api/member-card`. */
  baseUrl: string;
  /**
   * The host's session token, sent as `Authorization: Bearer <token>`. Optional with `request` (the
   * host's function then adds its own credentials). No token, or a throw: the "请先登录" state.
   */
  getToken?: TokenSource;
  /** Sends every request instead of the component's own wx.request. */
  request?: HostRequest;
  /** Called on a 401 and when the user taps "登录": the host logs the user in, then calls refresh(). */
  onUnauthenticated?: () => void;
  /** Request timeout in milliseconds. Default 10000. */
  timeout?: number;
  /** How long to keep looking for a new card after the user comes back from opening one. Default 30000. */
  confirmWindowMs?: number;
}

let current: MemberCardConfig | null = null;

function isPositive(value: unknown): boolean {
  return typeof value === 'number' && value > 0 && Number.isFinite(value);
}

export function configure(config: MemberCardConfig): MemberCardConfig {
  if (!config || typeof config !== 'object') throw new TypeError('memberCard.configure: pass { baseUrl, request }');
  const { baseUrl, getToken, request, onUnauthenticated, timeout, confirmWindowMs } = config;
  if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) {
    throw new TypeError('memberCard.configure: baseUrl must be the http(s) URL of the member-card routes');
  }
  for (const [name, value] of [
    ['getToken', getToken],
    ['request', request],
    ['onUnauthenticated', onUnauthenticated],
  ] as const) {
    if (value !== undefined && typeof value !== 'function') {
      throw new TypeError(`memberCard.configure: ${name} must be a function`);
    }
  }
  if (!getToken && !request) throw new TypeError('memberCard.configure: pass request, getToken, or both');
  if (timeout !== undefined && !isPositive(timeout)) {
    throw new TypeError('memberCard.configure: timeout must be a positive number of milliseconds');
  }
  if (confirmWindowMs !== undefined && !isPositive(confirmWindowMs)) {
    throw new TypeError('memberCard.configure: confirmWindowMs must be a positive number of milliseconds');
  }
  current = {
    baseUrl: baseUrl.replace(/\/+$/, ''),
    getToken,
    request,
    onUnauthenticated,
    timeout,
    confirmWindowMs,
  };
  return current;
}

/** The configuration, or null before the host called configure(). */
export function getConfig(): MemberCardConfig | null {
  return current;
}

/** Tells the host (once per call) that the user has to log in; a throwing host callback is only logged. */
export function notifyUnauthenticated(): void {
  const callback = current && current.onUnauthenticated;
  if (!callback) return;
  try {
    callback();
  } catch (e) {
    console.error('memberCard: onUnauthenticated threw', e);
  }
}
