import { randomBytes } from 'node:crypto';
import type { SandboxKeys } from './keys.js';
import { json, type Reply } from './reply.js';
import type { SandboxState } from './state.js';

// Mini-program login (code → session), as api.weixin.qq.com answers it: always HTTP 200, with
// either the session or `{errcode, errmsg}`. Unsigned, like the real one.

/** A js_code lives this long and works once. */
export const LOGIN_CODE_TTL_MS = 5 * 60_000;

const fail = (errcode: number, errmsg: string): Reply =>
  json(200, { errcode, errmsg: `${errmsg}, rid: ${randomBytes(4).toString('hex')}` });

export function handleSns(
  ctx: { keys: SandboxKeys; state: SandboxState },
  pathname: string,
  query: URLSearchParams,
): Reply {
  if (pathname !== '/sns/jscode2session') return fail(-1, `no such API ${pathname}`);
  const appid = query.get('appid');
  if (appid !== ctx.keys.miniProgramAppid) return fail(40013, 'invalid appid');
  if (query.get('secret') !== ctx.keys.miniProgramSecret) return fail(40125, 'invalid appsecret');
  if (query.get('grant_type') !== 'authorization_code') return fail(40002, 'invalid grant_type');
  const jsCode = query.get('js_code');
  if (!jsCode) return fail(41008, 'missing code');
  const code = ctx.state.data.login_codes.find((c) => c.js_code === jsCode);
  if (!code || code.expires_at <= Date.now()) return fail(40029, 'invalid code');
  if (code.used) return fail(40163, 'code been used');
  code.used = true;
  ctx.state.save();
  const user = ctx.state.findUser({ mp_openid: code.mp_openid });
  if (!user) return fail(40029, 'invalid code');
  const session: Record<string, string> = {
    session_key: randomBytes(16).toString('base64'),
    openid: user.mp_openid,
  };
  // Only a mini-program bound to the Open Platform learns the unionid.
  if (user.share_unionid) session.unionid = user.unionid;
  return json(200, session);
}
