// The plugin's `main`: all that `requirePlugin('memberCard')` hands a host (and what the npm package's
// index exports). configure() once at launch; refresh() after the host logged the user in;
// topupResult(orderId, res) after the host paid what the component's `topup` event asked for.
export { configure, getConfig } from './lib/config';
export { refreshAll as refresh, topupResultAll as topupResult } from './lib/registry';
export type { HostRequest, MemberCardConfig, RequestOptions, RequestResult, TokenSource } from './lib/config';
export type { ErrorDetail, ErrorKind } from './lib/errors';
export type { OpenCardParams } from './lib/open-card';
export type { TopupEvent } from './lib/topup';
