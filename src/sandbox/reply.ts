// The shape every route handler returns, and the one error type they throw. The server turns
// both into HTTP (signing /v3/ answers), so handlers never touch the response object.

export interface Reply {
  status: number;
  /** JSON-serialised when present; absent means an empty body (204). */
  body?: unknown;
}

export interface ErrorDetail {
  field: string;
  value: unknown;
  issue: string;
  location: string;
}

/** An error answer in WeChat Pay's format: `{code, message, detail?}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: ErrorDetail,
  ) {
    super(message);
  }

  toBody(): { code: string; message: string; detail?: ErrorDetail } {
    return this.detail
      ? { code: this.code, message: this.message, detail: this.detail }
      : { code: this.code, message: this.message };
  }
}

export const json = (status: number, body: unknown): Reply => ({ status, body });
export const noContent = (): Reply => ({ status: 204 });
