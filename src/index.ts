/**
 * koa-wechat-membercard: WeChat Pay member cards (商家会员卡) for Koa back ends of WeChat
 * mini-programs.
 */
export { memberCard, type MemberCard } from './member-card.js';
export { wechatLogin, type WechatLogin, type WechatLoginOptions } from './login/index.js';
export { createStore, MemoryStore, SqliteStore, PostgresStore, RedisStore } from './store/index.js';
export type * from './store/types.js';
export {
  ERRORS,
  MemberCardError,
  OptionsError,
  errorHandler,
  type ErrorCode,
  type ErrorBody,
  type ErrorDetail,
} from './errors.js';
export {
  DEFAULTS,
  type MemberCardOptions,
  type WechatpayOptions,
  type SelfServiceOptions,
  type OpenCardOptions,
  type IdentityResolver,
  type CodeResolver,
  type AdminAuthorizer,
  type OperationsOptions,
} from './options.js';
export { WechatpayClient } from './wechatpay/client.js';
export { outRequestNo } from './operations/index.js';
export type {
  Operations,
  AdjustInput,
  SetLevelInput,
  SetMembershipNumberInput,
  HistoryInput,
  CardTarget,
} from './operations/index.js';
export { NotificationVerifier } from './wechatpay/notification.js';
export type {
  Card,
  UpstreamCard,
  CardStatus,
  CardUpdate,
  RightsUpdate,
  NotificationPayload,
  VerifiedNotification,
} from './wechatpay/types.js';
export type { Log, LogLevel, LogFields } from './log.js';
export { startServer, type RunningServer } from './server/serve.js';
