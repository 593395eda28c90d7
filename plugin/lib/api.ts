// Our HTTP contract (the member-card router's routes), over the host's request or our own
// wx.request. Every failure becomes a MemberCardError with a `kind` the component can show.
import { getConfig, type RequestOptions } from './config';
import { memberCardError, type MemberCardError } from './errors';
import type { HistoryPage } from './history';
import { send } from './transport';

export interface Card {
  card_id?: string;
  code?: string;
  membership_number?: string;
  level?: string;
  nickname?: string;
  head_image_url?: string;
  background_picture_url?: string;
  balance?: number;
  bonus_value?: number;
  user_card_status?: string;
  user_information?: unknown;
}

export interface Editable {
  background_picture_url?: string[];
}

/** What the card template says (GET / `brand`; null when the template could not be read). */
export interface Brand {
  display_name?: string;
  logo_url?: string;
  title?: string;
  background_picture_url?: string;
  description?: string;
  service_phone?: string;
  code_type?: string;
  color?: string;
}

export interface MyCard {
  card: Card;
  editable: Editable;
  brand?: Brand | null;
  /** WeChat Pay was unavailable: the last card read, as of `asOf` (ISO time). */
  stale?: boolean;
  asOf?: string;
}

/** `GET /code`: the member code for the till. */
export interface MemberCode {
  code: string;
  /** ISO 8601, or null when the code does not expire. */
  expiresAt: string | null;
  /** Seconds from now after which to fetch the next one (null: never). */
  refreshAfter: number | null;
  rotating: boolean;
  codeType: string;
}

/** `GET /open`: wx.navigateToMiniProgram's parameters, and when their single-use outer_str expires. */
export interface OpenCardAnswer {
  appId: string;
  path: string;
  envVersion?: 'release' | 'trial' | 'develop';
  extraData: Record<string, unknown>;
  /** ISO 8601. */
  expiresAt?: string;
}

const DEFAULT_TIMEOUT_MS = 10000;

/** The Authorization header from getToken, when the host gave one. No token, or a throw: `login`. */
async function authorization(getToken: (() => unknown) | undefined): Promise<string | undefined> {
  if (!getToken) return undefined;
  let token: unknown;
  try {
    token = await getToken();
  } catch (err) {
    const reason = err && typeof err === 'object' && 'message' in err ? String(err.message) : String(err);
    throw memberCardError('login', 'NO_SESSION', `getToken failed: ${reason}`);
  }
  if (typeof token !== 'string' || !token) throw memberCardError('login', 'NO_SESSION', 'getToken gave no token');
  return `Bearer ${token}`;
}

function parsed(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}

function httpError(statusCode: number, data: unknown): MemberCardError {
  const body = (data && typeof data === 'object' ? data : {}) as { code?: unknown; message?: unknown };
  const code = typeof body.code === 'string' ? body.code : `HTTP_${statusCode}`;
  const message = typeof body.message === 'string' ? body.message : `HTTP ${statusCode}`;
  return memberCardError(statusCode === 401 ? 'unauthenticated' : 'http', code, message, statusCode);
}

export async function call<T>(method: RequestOptions['method'], path: string, body?: Record<string, unknown>) {
  const config = getConfig();
  if (!config) throw memberCardError('config', 'NOT_CONFIGURED', 'memberCard.configure({ baseUrl, … }) was not called');
  const header: Record<string, string> = { Accept: 'application/json' };
  const auth = await authorization(config.getToken);
  if (auth) header.Authorization = auth;
  if (body) header['Content-Type'] = 'application/json';
  const result = await send(config, {
    url: config.baseUrl + path,
    method,
    header,
    ...(body ? { data: body } : {}),
    timeout: config.timeout ?? DEFAULT_TIMEOUT_MS,
  });
  const data = parsed(result.data);
  if (result.statusCode >= 200 && result.statusCode < 300 && data && typeof data === 'object') return data as T;
  throw httpError(result.statusCode, data);
}

export const getMyCard = (): Promise<MyCard> => call<MyCard>('GET', '');
// wx.request offers no PATCH, so edits go as PUT, which the back end accepts like PATCH.
export const updateBackground = (url: string): Promise<MyCard> =>
  call<MyCard>('PUT', '', { background_picture_url: url });
export const getMemberCode = (): Promise<MemberCode> => call<MemberCode>('GET', '/code');
export const getHistory = (cursor: string | null, limit: number): Promise<HistoryPage> =>
  call<HistoryPage>('GET', `/history?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
export const getOpenCardParams = (): Promise<OpenCardAnswer> => call<OpenCardAnswer>('GET', '/open');

/** GET /topup: what may be paid (fen). */
export interface TopupOffers {
  currency: string;
  amounts?: { amount: number; bonus: number }[];
  min?: number;
  max?: number;
  bonuses: { from: number; extra: number }[];
}

/** A top-up order as the back end shows it to its payer. */
export interface TopupOrder {
  id: string;
  amount: number;
  bonus: number;
  credit: number;
  /** pending (not known to be paid), paid (crediting), credited, closed, failed. */
  state: string;
  balance?: number;
}

/** wx.requestPayment's parameters, signed by the back end. */
export interface PaymentParams {
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: 'RSA';
  paySign: string;
}

export const getTopupOffers = (): Promise<TopupOffers> => call<TopupOffers>('GET', '/topup');
export const createTopup = (amount: number): Promise<{ order: TopupOrder; payment: PaymentParams; reused: boolean }> =>
  call('POST', '/topup', { amount });
export const getTopup = (id: string): Promise<{ order: TopupOrder }> => call('GET', `/topup/${encodeURIComponent(id)}`);

/** The back end's answer when the user holds no card (yet). */
export const isNoCard = (err: MemberCardError): boolean => err.kind === 'http' && err.code === 'CARD_NOT_FOUND';
