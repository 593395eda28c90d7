/**
 * Everything the module keeps lives behind this one interface, so a host can run one instance
 * on the embedded SQLite file or many instances on PostgreSQL or Redis. Every method is async,
 * even where an engine is synchronous, so callers never care which engine they hold.
 *
 * Atomicity is the adapter's job: each method below is one indivisible step in every engine.
 */

/** Who is asking, as the host's session knows them (the mini-program openid). */
export interface UserIdentity {
  openid: string;
  unionid?: string;
}

export type BindingStatus = 'active' | 'retired' | 'flagged';

/** A user ↔ card code link, made from WeChat Pay's card notifications. */
export interface Binding {
  cardId: string;
  code: string;
  /** The person's unionid, when the notification carried one. */
  unionid?: string;
  /** The card's openid: the 服务号's openid for this person (never the mini-program's). */
  oaOpenid?: string;
  /** The mini-program openid of the session user who opened the card through our outer_str. */
  userOpenid?: string;
  /** active: in use; retired: the user deleted the card; flagged: the card's openid did not match. */
  status: BindingStatus;
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** A processed notification, kept to de-duplicate redeliveries. */
export interface NotificationRecord {
  /** WeChat Pay's notification id. */
  id: string;
  /** The envelope's event_type, e.g. MEMBERCARD.ACCEPT_CARD. */
  eventType: string;
  cardId?: string;
  code?: string;
  /** ms since the epoch. */
  receivedAt: number;
}

/** What a notification does to the bindings, applied in the same atomic step as its de-duplication. */
export type NotificationEffect =
  | {
      kind: 'bind';
      cardId: string;
      code: string;
      unionid?: string;
      oaOpenid?: string;
      /**
       * Our outer_str echoed back by WeChat Pay. When it is still pending (issued and not
       * expired) it is consumed and the binding's userOpenid (and unionid, if the binding has
       * none) come from the identity it was issued to.
       */
      outerStr?: string;
    }
  | { kind: 'retire'; cardId: string; code: string }
  | { kind: 'none' };

/** A login-kit session; the token itself is never stored, only its hash. */
export interface Session {
  openid: string;
  unionid?: string;
  /** ms since the epoch. */
  expiresAt: number;
}

export interface Store {
  /** Creates tables / checks the connection; called once before first use. Idempotent. */
  init(): Promise<void>;
  /** Resolves when the engine answers; rejects otherwise (for health checks). */
  ping(): Promise<void>;
  close(): Promise<void>;

  // --- bindings -------------------------------------------------------------------------------
  /** The most recently updated *active* binding made for this mini-program user on this card. */
  findBindingByUser(cardId: string, userOpenid: string): Promise<Binding | undefined>;
  /** The most recently updated *active* binding for this unionid on this card. */
  findBindingByUnionid(cardId: string, unionid: string): Promise<Binding | undefined>;
  /** Any binding for this code, whatever its status. */
  getBinding(cardId: string, code: string): Promise<Binding | undefined>;
  /** Marks a binding flagged (the card's openid did not match it), so it is no longer used. */
  flagBinding(cardId: string, code: string): Promise<void>;

  // --- open-card flow -------------------------------------------------------------------------
  /** Remembers an outer_str we issued to this user, until expiresAt (ms since the epoch). */
  putOuterStr(outerStr: string, user: UserIdentity, expiresAt: number): Promise<void>;

  // --- notifications --------------------------------------------------------------------------
  /**
   * De-duplicates and applies in one atomic step: if `record.id` was never seen, records it and
   * applies `effect`, then resolves true; if it was seen, changes nothing and resolves false.
   * If the step fails, nothing is recorded, so WeChat Pay's redelivery is processed again.
   *
   * A `bind` effect upserts by (cardId, code): status becomes active; unionid/oaOpenid are set
   * when given; userOpenid is kept unless a pending outerStr provides one (then that outerStr
   * is deleted, so it can bind once only). A `retire` effect sets status retired.
   */
  applyNotification(record: NotificationRecord, effect: NotificationEffect): Promise<boolean>;
  /** The record of a processed notification, if any. */
  getNotification(id: string): Promise<NotificationRecord | undefined>;

  // --- login-kit sessions ---------------------------------------------------------------------
  putSession(tokenHash: string, session: Session): Promise<void>;
  /** The session, or undefined when absent or expired. */
  getSession(tokenHash: string): Promise<Session | undefined>;
  deleteSession(tokenHash: string): Promise<void>;
}
