// What the component shows, as plain data for setData: the card face, the backgrounds on offer, and
// the words for each failure. Pure functions, so every state reads the same wherever it comes from.
import type { MyCard } from './api';
import type { MemberCardError } from './errors';
import { formatFen, formatPoints, statusName } from './format';

/**
 * The component's states. Later views of a card (member code, history, top-up) are panels inside
 * `card`, not new states: see `Panel`.
 */
export type View = 'loading' | 'login' | 'empty' | 'confirming' | 'card' | 'error';

/** What is open under the card face ('' = nothing). */
export type Panel = '' | 'edit' | 'topup';

export interface CardView {
  background: string;
  avatar: string;
  nickname: string;
  level: string;
  membershipNumber: string;
  balanceText: string;
  pointsText: string;
  status: string;
  statusText: string;
  effective: boolean;
}

export interface BackgroundOption {
  url: string;
  current: boolean;
}

export interface ErrorView {
  title: string;
  text: string;
  canRetry: boolean;
  /** A 401: offer "重新登录" as well. */
  canLogin: boolean;
}

export function cardView(result: MyCard): CardView {
  const card = result.card || {};
  const status = card.user_card_status || '';
  return {
    background: card.background_picture_url || '',
    avatar: card.head_image_url || '',
    nickname: card.nickname || '微信用户',
    level: card.level || '会员',
    membershipNumber: card.membership_number || card.code || '',
    balanceText: formatFen(card.balance),
    pointsText: formatPoints(card.bonus_value),
    status,
    statusText: statusName(status),
    effective: status === 'EFFECTIVE',
  };
}

export function backgroundOptions(result: MyCard): BackgroundOption[] {
  const list = (result.editable && result.editable.background_picture_url) || [];
  const current = result.card && result.card.background_picture_url;
  return list.filter((url) => typeof url === 'string' && url).map((url) => ({ url, current: url === current }));
}

/** What the user reads when loading the card failed (never the server's own message). */
export function errorView(err: MemberCardError): ErrorView {
  const view = (title: string, text: string, canRetry = true, canLogin = false) => ({
    title,
    text,
    canRetry,
    canLogin,
  });
  switch (err.kind) {
    case 'network':
      return view('网络不给力', '无法连接到会员卡服务，请检查网络后重试。');
    case 'config':
      return view('会员卡暂不可用', '小程序尚未完成会员卡组件的配置。', false);
    case 'unauthenticated':
      return view('登录已失效', '请重新登录后再查看会员卡。', true, true);
    default:
      if (err.status === 429) return view('操作太频繁', '请稍等片刻再试。');
      if (err.status >= 500) return view('服务繁忙', '会员卡服务暂时繁忙，请稍后再试。');
      return view('加载失败', '暂时无法显示会员卡，请稍后再试。');
  }
}

/** What the user reads when a save failed (the card itself stays on screen). */
export function saveErrorText(err: MemberCardError): string {
  if (err.kind === 'network') return '网络不给力，背景未保存，请重试。';
  if (err.code === 'CARD_NOT_EDITABLE') return '当前会员卡状态不可修改背景。';
  if (err.kind === 'unauthenticated' || err.kind === 'login') return '登录已失效，请重新登录。';
  if (err.status >= 500) return '服务繁忙，背景未保存，请稍后再试。';
  return '背景未保存，请稍后再试。';
}

/** What the user reads under "领取会员卡" when it cannot be opened. */
export function openErrorText(err: MemberCardError): string {
  if (err.kind === 'open') return '无法打开领卡页面，请稍后再试。';
  if (err.kind === 'network') return '网络不给力，暂时无法领取，请重试。';
  if (err.kind === 'unauthenticated' || err.kind === 'login') return '登录已失效，请重新登录后领取。';
  return '暂时无法领取会员卡，请稍后再试。';
}

/** What the user reads when a top-up could not be ordered. */
export function topupErrorText(err: MemberCardError): string {
  if (err.kind === 'network') return '网络不给力，暂时无法充值，请重试。';
  if (err.code === 'CARD_NOT_EDITABLE') return '当前会员卡状态不可充值。';
  if (err.code === 'AMOUNT_NOT_OFFERED') return '该金额不可充值，请重新选择。';
  if (err.kind === 'unauthenticated' || err.kind === 'login') return '登录已失效，请重新登录。';
  if (err.status >= 500 || err.status === 429) return '服务繁忙，请稍后再试。';
  return '暂时无法充值，请稍后再试。';
}
