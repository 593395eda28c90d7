// One way out to the network: the host's `request` when it gave one, else our own wx.request. Inside
// a plugin our wx.request is checked against the plugin's request-domain list; the host's function
// runs with the host's wx, so the host's list applies. In the npm form our wx *is* the host's.
import type { MemberCardConfig, RequestOptions, RequestResult } from './config';
import { kindOf, memberCardError, toMemberCardError } from './errors';

function ownRequest(options: RequestOptions): Promise<RequestResult> {
  return new Promise<RequestResult>((resolve, reject) => {
    wx.request({
      url: options.url,
      method: options.method,
      header: options.header,
      ...(options.data ? { data: options.data } : {}),
      dataType: 'json',
      timeout: options.timeout,
      success: (res) => resolve({ statusCode: res.statusCode, data: res.data, header: res.header }),
      fail: (res) => reject(memberCardError('network', 'NETWORK', res.errMsg || 'request:fail')),
    });
  });
}

/** Sends one request. Rejects with a MemberCardError: `network`, or `login` when the host's request says so. */
export async function send(config: MemberCardConfig, options: RequestOptions): Promise<RequestResult> {
  const request = config.request;
  if (!request) return ownRequest(options);
  let result: RequestResult;
  try {
    result = await request(options);
  } catch (err) {
    // The contract: reject on a network failure, or with `{ kind: 'login' }` when there is no session.
    throw kindOf(err) === 'login'
      ? toMemberCardError(err, 'login', 'NO_SESSION')
      : toMemberCardError(err, 'network', 'NETWORK');
  }
  if (!result || typeof result !== 'object' || typeof result.statusCode !== 'number') {
    throw memberCardError('network', 'BAD_HOST_RESPONSE', 'the host request resolved without a statusCode');
  }
  return result;
}
