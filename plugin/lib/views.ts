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
export type Panel = '' | 'edit' | 'code' | 'history' | 'profile' | 'topup';

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
  /** "数据更新于 HH:mm" when the server answered the last card it read (WeChat Pay unavailable); else ''. */
  staleNote: string;
}

/** The note of a stale answer: when the card shown was read, in the phone's local time. */
export function staleNote(result: MyCard): string {
  if (result.stale !== true || typeof result.asOf !== 'string') return '';
  const at = new Date(result.asOf);
  if (Number.isNaN(at.getTime())) return '数据更新于 —';
  const two = (n: number) => String(n).padStart(2, '0');
  return `数据更新于 ${two(at.getHours())}:${two(at.getMinutes())}`;
}

/** The brand on the card face: the template's, the merchant's colour; empty strings when unknown. */
export interface BrandView {
  name: string;
  logo: string;
  title: string;
  /** A CSS background for the face: the merchant's colour, else the component's default. */
  face: string;
  description: string;
  servicePhone: string;
  showBar: boolean;
  showQr: boolean;
}

const HEX = /^#[0-9A-Fa-f]{6}$/;

export function brandView(result: MyCard): BrandView {
  const brand = result.brand || {};
  const codeType = brand.code_type || 'BAR_CODE_AND_QRCODE';
  const color = typeof brand.color === 'string' && HEX.test(brand.color) ? brand.color : '';
  return {
    name: brand.display_name || '',
    logo: brand.logo_url || '',
    title: brand.title || '',
    face: color ? `background: ${color};` : '',
    description: brand.description || '',
    servicePhone: brand.service_phone || '',
    // NONE_CODE: the digits alone, for the cashier to type.
    showBar: codeType === 'BAR_CODE' || codeType === 'BAR_CODE_AND_QRCODE',
    showQr: codeType === 'QRCODE' || codeType === 'BAR_CODE_AND_QRCODE',
  };
}

/** 18 digits in groups of four, easier to read out or type: 1234 5678 9012 3456 78. */
export function groupDigits(code: string): string {
  return /^\d+$/.test(code) ? code.replace(/(\d{4})(?=\d)/g, '$1 ') : code;
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
  const brand = result.brand || {};
  const status = card.user_card_status || '';
  return {
    // The member's own background, else the template's.
    background: card.background_picture_url || brand.background_picture_url || '',
    avatar: card.head_image_url || '',
    nickname: card.nickname || '微信用户',
    level: card.level || '会员',
    membershipNumber: card.membership_number || card.code || '',
    balanceText: formatFen(card.balance),
    pointsText: formatPoints(card.bonus_value),
    status,
    statusText: statusName(status),
    effective: status === 'EFFECTIVE',
    staleNote: staleNote(result),
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

/** What the user reads when the member code could not be fetched (the panel stays open). */
export function codeErrorText(err: MemberCardError): string {
  if (err.kind === 'network') return '网络不给力，会员码未更新，请重试。';
  if (err.kind === 'unauthenticated' || err.kind === 'login') return '登录已失效，请重新登录。';
  if (err.status === 429) return '刷新太频繁，请稍后再试。';
  return '会员码暂时无法显示，请稍后再试。';
}

/** What the user reads when a page of the history could not be fetched. */
export function historyErrorText(err: MemberCardError): string {
  if (err.kind === 'network') return '网络不给力，明细未加载，请重试。';
  if (err.kind === 'unauthenticated' || err.kind === 'login') return '登录已失效，请重新登录。';
  return '明细暂时无法加载，请稍后再试。';
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
