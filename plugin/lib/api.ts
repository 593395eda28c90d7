// The plugin's only way out: our HTTP contract over wx.request (against the plugin's own
// request-domain list). Every failure becomes an ApiError the component can show.
import { getConfig } from './config';

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

export interface MyCard {
  card: Card;
  editable: Editable;
}

export interface OpenCardParams {
  appId: string;
  path: string;
  envVersion?: 'release' | 'trial' | 'develop';
  extraData: Record<string, unknown>;
}

/** network: no answer at all; config: configure() was not called; http: the back end said no. */
export type ApiErrorKind = 'network' | 'config' | 'http';

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number;
  readonly code: string;

  constructor(kind: ApiErrorKind, status: number, code: string, message: string) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

// wx.request offers no PATCH, so edits go as PUT, which the back end accepts like PATCH.
type Method = NonNullable<WechatMiniprogram.RequestOption['method']>;

export async function call<T>(method: Method, path: string, body?: Record<string, unknown>): Promise<T> {
  const config = getConfig();
  if (!config)
    throw new ApiError('config', 0, 'NOT_CONFIGURED', 'memberCard.configure({ baseUrl, getToken }) was not called');
  let token: string | null | undefined;
  try {
    token = await config.getToken();
  } catch {
    token = undefined;
  }
  const header: Record<string, string> = { Accept: 'application/json' };
  if (token) header.Authorization = `Bearer ${token}`;
  if (body) header['Content-Type'] = 'application/json';
  return new Promise<T>((resolve, reject) => {
    wx.request({
      url: config.baseUrl + path,
      method,
      header,
      ...(body ? { data: body } : {}),
      dataType: 'json',
      timeout: config.timeout ?? 10000,
      success(res) {
        const data = res.data as unknown;
        if (res.statusCode >= 200 && res.statusCode < 300 && data && typeof data === 'object') {
          resolve(data as T);
          return;
        }
        const error = (data && typeof data === 'object' ? data : {}) as { code?: unknown; message?: unknown };
        reject(
          new ApiError(
            'http',
            res.statusCode,
            typeof error.code === 'string' ? error.code : `HTTP_${res.statusCode}`,
            typeof error.message === 'string' ? error.message : `HTTP ${res.statusCode}`,
          ),
        );
      },
      fail(res) {
        reject(new ApiError('network', 0, 'NETWORK', res.errMsg || 'request:fail'));
      },
    });
  });
}

export const getMyCard = (): Promise<MyCard> => call<MyCard>('GET', '');
export const updateBackground = (url: string): Promise<MyCard> =>
  call<MyCard>('PUT', '', { background_picture_url: url });
export const getOpenCardParams = (): Promise<OpenCardParams> => call<OpenCardParams>('GET', '/open');
