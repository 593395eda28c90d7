// The demo host mini-program. It owns the login (wx.login → POST /api/login, our login kit) and the
// network: it gives the member-card plugin a `request` function that sends with the host's own
// wx.request (so the host's request-domain list applies) and adds the session itself, so the
// session token never crosses into the plugin. Addresses live in app.config.ts.
import { demoConfig } from './app.config';
import type { RequestOptions, RequestResult } from './plugin/index';

interface DemoGlobalData {
  apiBase: string;
  sandboxUrl: string;
  sandboxUnionid: string;
  token: string;
}

/** The plugin's `main` as `requirePlugin` hands it over, typed from its source (the demo lives in its project). */
export type MemberCardPlugin = typeof import('./plugin/index');

export interface DemoAppCustom {
  globalData: DemoGlobalData;
  /** A login code: from wx.login, or from the sandbox when sandboxUnionid is set. */
  loginCode(): Promise<string>;
  /** Logs in (once at a time) and resolves the session token. */
  login(): Promise<string>;
  pendingLogin: Promise<string> | null;
  /** The plugin's `request`: the host's wx.request with the host's session. */
  request(options: RequestOptions): Promise<RequestResult>;
}

/** What the plugin reads as "no session": its "请先登录" state. */
const noSession = (reason: unknown) => Object.assign(new Error(`not logged in (${String(reason)})`), { kind: 'login' });

App<DemoAppCustom>({
  globalData: { ...demoConfig, token: '' },
  pendingLogin: null,

  onLaunch() {
    (requirePlugin('memberCard') as MemberCardPlugin).configure({
      baseUrl: `${this.globalData.apiBase}/member-card`,
      request: (options) => this.request(options),
      onUnauthenticated: () => {
        // The session expired or was revoked: drop it and log in again; the card's
        // "重新加载" button (or the page's refresh) then succeeds with the new token.
        this.globalData.token = '';
        this.login().catch(() => undefined);
      },
    });
  },

  request(options) {
    const session = this.globalData.token
      ? Promise.resolve(this.globalData.token)
      : this.login().catch((err: unknown) => Promise.reject(noSession(err)));
    return session.then(
      (token) =>
        new Promise<RequestResult>((resolve, reject) => {
          wx.request({
            url: options.url,
            method: options.method,
            header: { ...options.header, Authorization: `Bearer ${token}` },
            ...(options.data ? { data: options.data } : {}),
            timeout: options.timeout,
            dataType: 'json',
            success: (res) => resolve({ statusCode: res.statusCode, data: res.data, header: res.header }),
            fail: (res) => reject(new Error(res.errMsg)),
          });
        }),
    );
  },

  loginCode() {
    const { sandboxUrl, sandboxUnionid } = this.globalData;
    return new Promise<string>((resolve, reject) => {
      if (!sandboxUnionid) {
        wx.login({
          success: ({ code }) => resolve(code),
          fail: (res) => reject(new Error(res.errMsg)),
        });
        return;
      }
      wx.request({
        url: `${sandboxUrl}sandbox/login-codes`,
        method: 'POST',
        header: { 'Content-Type': 'application/json' },
        data: { unionid: sandboxUnionid },
        dataType: 'json',
        success: (res) => {
          const body = res.data as { js_code?: unknown };
          if (res.statusCode === 201 && body && typeof body.js_code === 'string') resolve(body.js_code);
          else reject(new Error(`sandbox login-codes answered ${res.statusCode}`));
        },
        fail: (res) => reject(new Error(res.errMsg)),
      });
    });
  },

  login() {
    if (this.pendingLogin) return this.pendingLogin;
    const apiBase = this.globalData.apiBase;
    const attempt = this.loginCode().then(
      (code) =>
        new Promise<string>((resolve, reject) => {
          wx.request({
            url: `${apiBase}/login`,
            method: 'POST',
            header: { 'Content-Type': 'application/json' },
            data: { code },
            dataType: 'json',
            success: (res) => {
              const body = res.data as { token?: unknown; code?: unknown };
              if (res.statusCode === 200 && body && typeof body.token === 'string') {
                this.globalData.token = body.token;
                resolve(body.token);
              } else {
                reject(
                  new Error(
                    `login answered ${res.statusCode} ${body && typeof body.code === 'string' ? body.code : ''}`.trim(),
                  ),
                );
              }
            },
            fail: (res) => reject(new Error(res.errMsg)),
          });
        }),
    );
    this.pendingLogin = attempt;
    const done = () => {
      if (this.pendingLogin === attempt) this.pendingLogin = null;
    };
    attempt.then(done, done);
    return attempt;
  },
});
