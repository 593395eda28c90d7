import type { LoginRateLimits } from '../login/options.js';
import type { Env, EnvName } from './config.js';

/** A number from the environment, as given (wechatLogin() checks it, and an error names the variable). */
function numberFrom(env: Env, name: EnvName): number | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : Number(value);
}

/** wechatLogin()'s rateLimit from LOGIN_CLIENT_* and LOGIN_TOTAL_*; what is unset keeps its default. */
export function loginRateLimitFrom(env: Env): LoginRateLimits {
  const pick = (burst: EnvName, perMinute: EnvName) => {
    const b = numberFrom(env, burst);
    const m = numberFrom(env, perMinute);
    return { ...(b === undefined ? {} : { burst: b }), ...(m === undefined ? {} : { perMinute: m }) };
  };
  return {
    perClient: pick('LOGIN_CLIENT_BURST', 'LOGIN_CLIENT_PER_MINUTE'),
    total: pick('LOGIN_TOTAL_BURST', 'LOGIN_TOTAL_PER_MINUTE'),
  };
}
