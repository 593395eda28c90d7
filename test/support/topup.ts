// Top-ups as tests drive them: memberCard()'s `topup` option for a sandbox, and the user paying an
// order's wx.requestPayment parameters inside the mini-program, as WeChat's client does.
import type { MemberCardOptions } from '../../src/options.js';
import type { Reply } from './http.js';
import type { SandboxUser, TestSandbox } from './sandbox.js';

/** 充100送10, 充200送30: fixed amounts with bonus tiers. */
export const AMOUNTS = [1000, 5000, 10000, 20000];
export const BONUSES = [
  { from: 10000, extra: 1000 },
  { from: 20000, extra: 3000 },
];

/** The `topup` option against this sandbox: its mini-program pays, notifications go to `notifyUrl`. */
export function topupOptions(
  sandbox: TestSandbox,
  notifyUrl: string,
  extra: Partial<NonNullable<MemberCardOptions['topup']>> = {},
): Pick<MemberCardOptions, 'topup'> {
  return {
    topup: {
      appid: sandbox.credentials.miniProgramAppid,
      notifyUrl,
      amounts: AMOUNTS,
      bonuses: BONUSES,
      retryMs: 200,
      ...extra,
    },
  };
}

/** wx.requestPayment(payment) in the user's WeChat, inside the mini-program: the sandbox checks the paySign. */
export function pay(
  sandbox: TestSandbox,
  user: SandboxUser,
  payment: Record<string, unknown>,
  options: { notify?: boolean; duplicates?: number; delay_ms?: number; result?: string } = {},
): Promise<Reply> {
  return sandbox.requestPayment({
    ...payment,
    appid: sandbox.credentials.miniProgramAppid,
    openid: user.mp_openid,
    ...options,
  });
}
