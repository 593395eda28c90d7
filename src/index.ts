/**
 * koa-wechat-membercard: WeChat Pay member cards (商家会员卡) for Koa back ends of WeChat
 * mini-programs. The root is the middleware only; the ready server is at
 * `koa-wechat-membercard/server` and the WeChat Pay sandbox at `koa-wechat-membercard/sandbox`.
 * Nothing here loads Koa's application, the sandbox or a store driver: each store engine loads its
 * driver when a store of that kind first opens.
 */
export { memberCard, type MemberCard } from './member-card.js';
export type { Bindings, BindInput, BindResult } from './bindings.js';
export type { Brand } from './brand.js';
export type { MemberCodes, MemberCodeAnswer, VerifiedMember } from './member-codes/member-codes.js';
export type { HistoryItem } from './routes/history.js';
export { wechatLogin, type WechatLogin, type WechatLoginOptions } from './login/index.js';
export type { ResolvedWechatLoginOptions } from './login/options.js';
export { createStore } from './store/index.js';
export type * from './store/types.js';
export type {
  StoreOptions,
  StoreSpec,
  StoreEngine,
  MemoryStoreOptions,
  SqliteStoreOptions,
  PostgresStoreOptions,
  PostgresConnectionOptions,
  PostgresPoolOptions,
  RedisStoreOptions,
  RedisConnectionOptions,
  RedisClientOptions,
} from './store/index.js';
export type { Duration, PruneCounts, RetentionLimits, RetentionOptions } from './store/retention.js';
export {
  ERRORS,
  MemberCardError,
  OptionsError,
  errorHandler,
  type ErrorCode,
  type ErrorBody,
  type ErrorDetail,
  type OptionPlace,
} from './errors.js';
export {
  DEFAULTS,
  type MemberCardOptions,
  type ResolvedMemberCardOptions,
  type CacheOptions,
  type WechatpayOptions,
  type SelfServiceOptions,
  type OpenCardOptions,
  type IdentityResolver,
  type CodeResolver,
  type AdminAuthorizer,
  type OperationsOptions,
  type TopupOptions,
  type TopupBonus,
  type TopupShippingOptions,
  type BrandOptions,
  type MemberCodeOptions,
} from './options.js';
export type { Topups, ReconcileReport } from './topup/topups.js';
export type { RequestPaymentParams } from './topup/pay-sign.js';
export type { OffersJson } from './topup/offers.js';
export { outRequestNo } from './operations/index.js';
export type {
  Operations,
  AdjustInput,
  SetLevelInput,
  SetMembershipNumberInput,
  HistoryInput,
  CardTarget,
  SweepReport,
} from './operations/index.js';
export type { WechatpayClient } from './wechatpay/client.js';
export type {
  Card,
  UpstreamCard,
  CardStatus,
  CardTemplate,
  CodeType,
  CardUpdate,
  RightsUpdate,
  NotificationPayload,
  VerifiedNotification,
} from './wechatpay/types.js';
export type { Log, LogLevel, LogFields } from './log.js';
