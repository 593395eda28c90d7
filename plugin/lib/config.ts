// What the host mini-program hands the plugin through `requirePlugin('memberCard').configure(...)`.
// A plugin cannot log in by itself, so the host owns the session and lends us its token.

export type TokenSource = () => string | null | undefined | Promise<string | null | undefined>;

export interface MemberCardConfig {
  /** Where the host mounted the member-card router, e.g. `https://shop.example.com/api/member-card`. */
  baseUrl: string;
  /** The host's session token, sent as `Authorization: Bearer <token>`. */
  getToken: TokenSource;
  /** Called when the back end answers 401: the host logs the user in again, then the component reloads. */
  onUnauthenticated?: () => void;
  /** wx.request timeout in milliseconds. Default 10000. */
  timeout?: number;
}

let current: MemberCardConfig | null = null;

export function configure(config: MemberCardConfig): MemberCardConfig {
  if (!config || typeof config !== 'object') throw new TypeError('memberCard.configure: pass { baseUrl, getToken }');
  const { baseUrl, getToken, onUnauthenticated, timeout } = config;
  if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl)) {
    throw new TypeError('memberCard.configure: baseUrl must be the http(s) URL of the member-card routes');
  }
  if (typeof getToken !== 'function') throw new TypeError('memberCard.configure: getToken must be a function');
  if (onUnauthenticated !== undefined && typeof onUnauthenticated !== 'function') {
    throw new TypeError('memberCard.configure: onUnauthenticated must be a function');
  }
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0)) {
    throw new TypeError('memberCard.configure: timeout must be a positive number of milliseconds');
  }
  current = { baseUrl: baseUrl.replace(/\/+$/, ''), getToken, onUnauthenticated, timeout };
  return current;
}

/** The configuration, or null before the host called configure(). */
export function getConfig(): MemberCardConfig | null {
  return current;
}
