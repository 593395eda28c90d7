// The plugin's `main`: what a host gets from `requirePlugin('memberCard')`.
export { configure, getConfig } from './lib/config';
export type { MemberCardConfig, TokenSource } from './lib/config';
