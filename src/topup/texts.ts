// The words a top-up leaves in WeChat: the order description in the user's bill, and the
// balance_remark WeChat shows with the new balance ("the WeChat Pay remark says what was bought").

/** Fen as yuan: 10000 → "¥100.00". */
export function yuan(fen: number): string {
  return `¥${(fen / 100).toFixed(2)}`;
}

/** ≤ 127 characters (the description option is ≤ 100). */
export function orderDescription(description: string, amount: number): string {
  return `${description} ${yuan(amount)}`;
}

/** ≤ 100 characters, the journal's limit for a remark. */
export function creditRemark(amount: number, bonus: number): string {
  return bonus > 0 ? `微信支付充值${yuan(amount)}，赠送${yuan(bonus)}` : `微信支付充值${yuan(amount)}`;
}
