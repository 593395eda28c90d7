import { MemberCardError } from '../errors.js';

// The mini-program's access token for serve's delivery reports: getStableAccessToken (POST
// /cgi-bin/stable_token), which unlike cgi-bin/token does not invalidate a token another service
// of the merchant holds ("与 getAccessToken 获取的调用凭证完全隔离"). Kept until 5 minutes before it ends.

const MARGIN_MS = 5 * 60_000;

export function stableAccessToken(settings: {
  appid: string;
  secret: string;
  baseURL: string;
  timeoutMs: number;
}): () => Promise<string> {
  let cached: { token: string; until: number } | undefined;
  let pending: Promise<string> | undefined;
  const fetchToken = async (): Promise<string> => {
    const response = await fetch(new URL('cgi-bin/stable_token', settings.baseURL), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credential', appid: settings.appid, secret: settings.secret }),
      signal: AbortSignal.timeout(settings.timeoutMs),
      redirect: 'error',
    });
    const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number')
      throw new MemberCardError('UPSTREAM_ERROR', 'The mini-program access token could not be had.');
    cached = { token: body.access_token, until: Date.now() + body.expires_in * 1000 - MARGIN_MS };
    return body.access_token;
  };
  return () => {
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.token);
    pending ??= fetchToken().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
