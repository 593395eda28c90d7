// The demo host's addresses, in one place: nothing else in the demo names a URL. Point them at your
// own back end (HTTPS, and on the host's request-domain list, outside DevTools).
export const demoConfig = {
  /** Where `wechat-membercard serve` listens: its /api prefix (login kit at /login, cards at /member-card). */
  apiBase: 'http://127.0.0.1:3000/api',
  /** The sandbox `serve` runs beside it (sandbox mode only). */
  sandboxUrl: 'http://127.0.0.1:3100/',
  /**
   * Sandbox only. A code from the real wx.login is known to WeChat's jscode2session, not to the local
   * sandbox; with the demo user's unionid here (from data/sandbox/demo.json) the demo asks the
   * sandbox's control API for a login code instead. Leave it empty against a real back end.
   */
  sandboxUnionid: '',
};
