import { MemberCardError } from '../errors.js';
import { isOpaqueId } from '../ids.js';
import type { Log } from '../log.js';

export interface WechatSession {
  openid: string;
  unionid?: string;
}

/**
 * The settings behind errcodes that mean our own configuration is wrong (global errcodes, not on
 * the jscode2session page): the option of wechatLogin() (serve's README table maps it to its variable).
 */
const SETTING_ERRORS: Record<number, { option: string }> = {
  40013: { option: 'appid' },
  40125: { option: 'secret' },
};

/** Mini-program login errors from jscode2session (api_code2session), mapped to what our client should do. */
function toLoginError(errcode: number): MemberCardError {
  switch (errcode) {
    case -1:
      // "系统繁忙，此时请开发者稍候再试": busy, worth trying again shortly.
      return new MemberCardError('UPSTREAM_BUSY', 'WeChat login is busy. Try again shortly.', { retryAfter: 2 });
    case 40029:
    case 40163:
      return new MemberCardError(
        'INVALID_LOGIN_CODE',
        'The login code is invalid or already used. Call wx.login again.',
      );
    case 45011:
      return new MemberCardError('RATE_LIMITED', 'Too many logins. Try again shortly.', { retryAfter: 1 });
    case 40226:
      return new MemberCardError('LOGIN_BLOCKED', 'WeChat blocked this login.');
    default:
      return new MemberCardError('UPSTREAM_ERROR', 'WeChat login failed. Try again.');
  }
}

/**
 * Calls WeChat's jscode2session. The session_key it returns is dropped here: nothing we do
 * needs it, and a key that is never kept can never leak.
 */
export async function jscode2session(
  code: string,
  config: { appid: string; secret: string; baseURL: string; timeout: number; log: Log },
): Promise<WechatSession> {
  const url = new URL('sns/jscode2session', config.baseURL);
  url.search = new URLSearchParams({
    appid: config.appid,
    secret: config.secret,
    js_code: code,
    grant_type: 'authorization_code',
  }).toString();
  let body: { openid?: unknown; unionid?: unknown; errcode?: unknown };
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(config.timeout), redirect: 'error' });
    if (!response.ok) {
      config.log('warn', 'jscode2session failed', { status: response.status });
      throw new MemberCardError('UPSTREAM_ERROR', 'WeChat login failed. Try again.');
    }
    body = (await response.json()) as typeof body;
  } catch (err) {
    if (err instanceof MemberCardError) throw err;
    const timedOut = (err as Error)?.name === 'TimeoutError';
    config.log('warn', 'jscode2session unreachable', { error: (err as Error)?.name ?? 'Error', timeout: timedOut });
    throw timedOut
      ? new MemberCardError('UPSTREAM_TIMEOUT', 'WeChat login did not answer in time. Try again.')
      : new MemberCardError('UPSTREAM_ERROR', 'WeChat login failed. Try again.');
  }
  if (typeof body.errcode === 'number' && body.errcode !== 0) {
    const setting = SETTING_ERRORS[body.errcode];
    if (setting) {
      // Every login fails until the merchant fixes the setting: say which one, never its value.
      config.log(
        'error',
        `jscode2session refused our ${setting.option}: check wechatLogin() option ${setting.option}`,
        {
          errcode: body.errcode,
          option: setting.option,
        },
      );
    } else {
      config.log('warn', 'jscode2session refused', { errcode: body.errcode });
    }
    throw toLoginError(body.errcode);
  }
  // An openid or unionid we could not store as it is (NUL, control characters): never a 500.
  if (!isOpaqueId(body.openid)) {
    config.log('warn', 'jscode2session answered without a usable openid', {});
    throw new MemberCardError('UPSTREAM_ERROR', 'WeChat login failed. Try again.');
  }
  if (body.unionid !== undefined && !isOpaqueId(body.unionid)) {
    config.log('warn', 'jscode2session answered an unusable unionid; left out', {});
    return { openid: body.openid };
  }
  return body.unionid ? { openid: body.openid, unionid: body.unionid } : { openid: body.openid };
}
