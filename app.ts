// The demo host mini-program. It owns the login (wx.login → POST /api/login, our login kit) and
// lends the member-card plugin its session token through the plugin's configure().
// Compiled to app.js by `tsc -p tsconfig.plugin.json`.

interface DemoGlobalData {
  /** Where `wechat-membercard serve` listens (its /api prefix). Change it for your own back end. */
  apiBase: string;
  /**
   * Sandbox only. A code from the real wx.login is known to WeChat's jscode2session, not to the
   * local sandbox; with `sandboxUnionid` set (the demo user's unionid from data/sandbox/demo.json)
   * the demo asks the sandbox's control API at `sandboxUrl` for a login code instead.
   */
  sandboxUrl: string;
  sandboxUnionid: string;
  token: string;
}

/** The plugin's `main` as `requirePlugin` hands it over, typed from its source (the demo lives in its project). */
type MemberCardPlugin = typeof import('./plugin/index');

interface DemoAppCustom {
  globalData: DemoGlobalData;
  /** A login code: from wx.login, or from the sandbox when sandboxUnionid is set. */
  loginCode(): Promise<string>;
  /** Logs in (once at a time) and resolves the session token. */
  login(): Promise<string>;
  pendingLogin: Promise<string> | null;
}

App<DemoAppCustom>({
  globalData: {
    apiBase: 'http://127.0.0.1:3000/api',
    sandboxUrl: 'http://127.0.0.1:3100/',
    sandboxUnionid: '',
    token: '',
  },
  pendingLogin: null,

  onLaunch() {
    (requirePlugin('memberCard') as MemberCardPlugin).configure({
      baseUrl: `${this.globalData.apiBase}/member-card`,
      getToken: () => this.globalData.token || this.login(),
      onUnauthenticated: () => {
        // The session expired or was revoked: drop it and log in again; the card's
        // "重新加载" button then succeeds with the new token.
        this.globalData.token = '';
        this.login().catch(() => undefined);
      },
    });
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
