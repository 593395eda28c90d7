// The plugin's `main`: all that `requirePlugin('memberCard')` hands a host (and what the npm package's
// index exports). configure() once at launch; refresh() after the host logged the user in.
export { configure, getConfig } from './lib/config';
export { refreshAll as refresh } from './lib/registry';
export type { HostRequest, MemberCardConfig, RequestOptions, RequestResult, TokenSource } from './lib/config';
export type { ErrorDetail, ErrorKind } from './lib/errors';
export type { OpenCardParams } from './lib/open-card';
