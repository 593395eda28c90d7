// The Store contract, as one suite that every engine runs unchanged (see contract.test.ts),
// one describe per role, as the interfaces in src/store/types.ts divide the Store.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemberCardError } from '../../src/errors.js';
import type {
  AuditEntry,
  Binding,
  MemberCodeEntry,
  MerchantBinding,
  NotificationEffect,
  NotificationRecord,
  Operation,
  Store,
  TopupOrder,
  TopupOrderStore,
} from '../../src/store/types.js';
import type { StoreCommonOptions } from '../../src/store/options.js';
import { sleep } from '../support/poll.js';
import { retentionContract } from './contract-retention.js';

export interface Engine {
  name: string;
  /** Set to a reason to skip the whole suite. */
  skip?: string | undefined;
  /** A new, uninitialised store on this run's shared location (file / schema / key prefix), with these options. */
  open(options?: StoreCommonOptions): Store;
  /** True when records expire by key TTLs (Redis): prune() counts only what it deletes itself. */
  ttls?: boolean;
  /** Whether two open() instances see the same data (false for memory). */
  shared: boolean;
  /** Removes this run's file / schema / keys. */
  cleanup(): Promise<void>;
}

const uid = (): string => randomUUID().replace(/-/g, '').slice(0, 16);
const card = (): string => `pXXXX${uid()}`;
let seq = 0;
const record = (cardId?: string, code?: string, id = `n-${uid()}`): NotificationRecord => ({
  id,
  eventType: 'MEMBERCARD.ACCEPT_CARD',
  ...(cardId ? { cardId } : {}),
  ...(code ? { code } : {}),
  receivedAt: Date.now() + ++seq,
});
const bind = (
  cardId: string,
  code: string,
  extra: Partial<Extract<NotificationEffect, { kind: 'bind' }>> = {},
): NotificationEffect => ({
  kind: 'bind',
  cardId,
  code,
  ...extra,
});
let opSeq = 0;
/** A journal entry as the operations module prepares one (created in order, so oldest-first is checkable). */
const operation = (cardId: string, code: string, extra: Partial<Operation> = {}): Operation => {
  const now = Date.now() + ++opSeq;
  return {
    cardId,
    requestId: `r-${uid()}`,
    code,
    kind: 'balance',
    amount: 100,
    remark: '充值',
    actor: 'till-1',
    state: 'pending',
    outRequestNo: uid().padEnd(32, '0'),
    before: 500,
    after: 600,
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
};
const isUnavailable = (err: unknown): boolean => err instanceof MemberCardError && err.code === 'STORE_UNAVAILABLE';

export function contractSuite(engine: Engine): void {
  describe(`Store contract: ${engine.name}`, { skip: engine.skip ?? false }, () => {
    let store: Store;
    /** A second instance on the same location (another process, as far as the engine knows). */
    let other: Store;

    /** Applies a bind notification and returns the binding as stored afterwards. */
    const applyBind = async (
      s: Store,
      cardId: string,
      code: string,
      extra: Parameters<typeof bind>[2] = {},
    ): Promise<Binding> => {
      assert.equal(await s.applyNotification(record(cardId, code), bind(cardId, code, extra)), true);
      const b = await s.getBinding(cardId, code);
      assert.ok(b, 'binding exists after a bind notification');
      return b;
    };

    before(async () => {
      store = engine.open();
      await store.init();
      other = engine.shared ? engine.open() : store;
      if (other !== store) await other.init();
    });

    after(async () => {
      await store?.close();
      if (other && other !== store) await other.close();
      await engine.cleanup();
    });

    describe('StoreLifecycle: init, ping, close', () => {
      it('init twice is harmless and ping resolves', async () => {
        await store.init();
        await Promise.all([store.init(), store.init()]);
        await store.ping();
      });

      it('a closed store rejects with STORE_UNAVAILABLE', async () => {
        const s = engine.open();
        await s.init();
        await s.ping();
        await s.close();
        await assert.rejects(s.ping(), isUnavailable);
        await assert.rejects(s.getSession('x'), isUnavailable);
        await s.close(); // closing twice is fine
      });

      it('close() before init() is harmless, and then every call, init() included, rejects', async () => {
        const s = engine.open();
        await s.close();
        await assert.rejects(s.init(), isUnavailable);
        await assert.rejects(s.getBinding(card(), '1'), isUnavailable);
        await assert.rejects(s.acquireLock(`lock-${uid()}`, 't', 1000), isUnavailable);
        await s.close();
      });
    });

    describe('NotificationStore: applyNotification, getNotification', () => {
      it('binds through a bind effect with unionid and oaOpenid, and records the notification', async () => {
        const cardId = card();
        const rec = record(cardId, '1001');
        const before = Date.now();
        assert.equal(
          await store.applyNotification(rec, bind(cardId, '1001', { unionid: 'u-1', oaOpenid: 'oa-1' })),
          true,
        );
        const b = await store.getBinding(cardId, '1001');
        assert.ok(b);
        assert.deepEqual(
          { ...b, createdAt: 0, updatedAt: 0 },
          {
            cardId,
            code: '1001',
            unionid: 'u-1',
            oaOpenid: 'oa-1',
            status: 'active',
            createdAt: 0,
            updatedAt: 0,
          },
        );
        assert.ok(b.createdAt >= before && b.createdAt <= Date.now());
        assert.equal(b.updatedAt, b.createdAt);
        assert.deepEqual(await store.findBindingByUnionid(cardId, 'u-1'), b);
        assert.equal(await store.findBindingByUnionid(cardId, 'u-other'), undefined);
        assert.equal(await store.findBindingByUnionid(card(), 'u-1'), undefined, 'another card');
        assert.equal(await store.findBindingByUser(cardId, 'u-1'), undefined);
        assert.equal(await store.getBinding(cardId, '9999'), undefined);
        assert.deepEqual(await store.getNotification(rec.id), rec);
        assert.equal(await store.getNotification(`missing-${uid()}`), undefined);
      });

      it('a duplicate notification id resolves false and changes nothing', async () => {
        const cardId = card();
        const rec = record(cardId, '4001');
        assert.equal(await store.applyNotification(rec, bind(cardId, '4001', { unionid: 'u-4' })), true);
        const first = await store.getBinding(cardId, '4001');
        await sleep(3);
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-4' }, Date.now() + 60_000);
        const dup = { ...rec, eventType: 'MEMBERCARD.ACTIVATE_CARD', receivedAt: rec.receivedAt + 10 };
        assert.equal(
          await other.applyNotification(
            dup,
            bind(cardId, '4001', { unionid: 'u-changed', oaOpenid: 'oa-x', outerStr: os }),
          ),
          false,
        );
        assert.equal(await store.applyNotification(dup, { kind: 'retire', cardId, code: '4001' }), false);
        assert.equal(await store.applyNotification(dup, bind(cardId, '4002')), false);
        assert.deepEqual(await store.getBinding(cardId, '4001'), first);
        assert.equal(await store.getBinding(cardId, '4002'), undefined);
        assert.deepEqual(await store.getNotification(rec.id), rec, 'the first record is kept');
        // The duplicate did not consume the outer_str either.
        assert.equal((await applyBind(store, cardId, '4003', { outerStr: os })).userOpenid, 'mp-4');
      });

      it('a notification with no effect is recorded and de-duplicated', async () => {
        const rec = record();
        assert.equal(await store.applyNotification(rec, { kind: 'none' }), true);
        assert.deepEqual(await store.getNotification(rec.id), rec);
        assert.equal(await other.applyNotification(rec, { kind: 'none' }), false);
      });

      it('20 concurrent deliveries of one notification (across instances if shared) apply exactly once', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-c' }, Date.now() + 60_000);
        const rec = record(cardId, '5001');
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? other : store).applyNotification(
              { ...rec },
              bind(cardId, '5001', { unionid: 'u-c', outerStr: os }),
            ),
          ),
        );
        assert.equal(results.filter((r) => r).length, 1, `exactly one true in ${JSON.stringify(results)}`);
        const b = await store.getBinding(cardId, '5001');
        assert.equal(b?.userOpenid, 'mp-c');
        assert.equal(b?.unionid, 'u-c');
      });

      it('concurrent updates of one binding are not lost', async () => {
        const cardId = card();
        await applyBind(store, cardId, '6501');
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-merge', unionid: 'u-merge' }, Date.now() + 60_000);
        await Promise.all([
          store.applyNotification(record(cardId, '6501'), bind(cardId, '6501', { unionid: 'u-merge' })),
          other.applyNotification(record(cardId, '6501'), bind(cardId, '6501', { oaOpenid: 'oa-merge' })),
          store.applyNotification(record(cardId, '6501'), bind(cardId, '6501', { outerStr: os })),
        ]);
        const b = await other.getBinding(cardId, '6501');
        assert.equal(b?.unionid, 'u-merge');
        assert.equal(b?.oaOpenid, 'oa-merge');
        assert.equal(b?.userOpenid, 'mp-merge');
      });

      it('retire sets status retired; the binding is no longer found; a new bind revives it', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-r' }, Date.now() + 60_000);
        const bound = await applyBind(store, cardId, '7001', { unionid: 'u-r', outerStr: os });
        await sleep(3);
        assert.equal(
          await other.applyNotification(record(cardId, '7001'), { kind: 'retire', cardId, code: '7001' }),
          true,
        );
        const retired = await store.getBinding(cardId, '7001');
        assert.equal(retired?.status, 'retired');
        assert.equal(retired?.userOpenid, 'mp-r');
        assert.ok((retired?.updatedAt ?? 0) > bound.updatedAt, 'updatedAt moves');
        assert.equal(await store.findBindingByUnionid(cardId, 'u-r'), undefined);
        assert.equal(await store.findBindingByUser(cardId, 'mp-r'), undefined);

        const revived = await applyBind(store, cardId, '7001');
        assert.equal(revived.status, 'active');
        assert.equal(revived.userOpenid, 'mp-r');
        assert.equal((await store.findBindingByUser(cardId, 'mp-r'))?.code, '7001');

        // Retiring a code we never bound records the notification and creates nothing.
        assert.equal(
          await store.applyNotification(record(cardId, '7999'), { kind: 'retire', cardId, code: '7999' }),
          true,
        );
        assert.equal(await store.getBinding(cardId, '7999'), undefined);
      });
    });

    describe('BindingStore: findBindingByUser, findBindingByUnionid, getBinding, flagBinding, putOuterStr', () => {
      it('ids with separators or non-ASCII characters do not collide', async () => {
        const cardId = `${card()}:a`;
        await applyBind(store, cardId, 'b:c', { unionid: 'ü:1' });
        await applyBind(store, `${cardId}:b`, 'c', { unionid: 'ü:2' });
        assert.equal((await store.getBinding(cardId, 'b:c'))?.unionid, 'ü:1');
        assert.equal((await store.getBinding(`${cardId}:b`, 'c'))?.unionid, 'ü:2');
        assert.equal((await store.findBindingByUnionid(cardId, 'ü:1'))?.code, 'b:c');
      });

      it('binds through a pending outer_str once: userOpenid and unionid come from its user', async () => {
        const cardId = card();
        const outerStr = `os-${uid()}`;
        await store.putOuterStr(outerStr, { openid: 'mp-1', unionid: 'u-mp-1' }, Date.now() + 60_000);
        const b = await applyBind(store, cardId, '2001', { oaOpenid: 'oa-2', outerStr });
        assert.equal(b.userOpenid, 'mp-1');
        assert.equal(b.unionid, 'u-mp-1', 'a binding without unionid takes the outer_str user’s');
        assert.equal(b.oaOpenid, 'oa-2');
        assert.deepEqual(await store.findBindingByUser(cardId, 'mp-1'), b);
        assert.deepEqual(await store.findBindingByUnionid(cardId, 'u-mp-1'), b);

        // The outer_str was consumed: a second notification naming it binds nobody.
        const second = await applyBind(other, cardId, '2002', { outerStr });
        assert.equal(second.userOpenid, undefined);
        assert.equal(second.unionid, undefined);
        assert.equal((await store.findBindingByUser(cardId, 'mp-1'))?.code, '2001');
      });

      it('a unionid in the notification wins over the binding’s, which wins over the outer_str user’s', async () => {
        const cardId = card();
        const os1 = `os-${uid()}`;
        await store.putOuterStr(os1, { openid: 'mp-a', unionid: 'u-same' }, Date.now() + 60_000);
        const given = await applyBind(store, cardId, '2101', { unionid: 'u-same', outerStr: os1 });
        assert.deepEqual([given.unionid, given.userOpenid], ['u-same', 'mp-a']);

        await applyBind(store, cardId, '2102', { unionid: 'u-existing' });
        const os2 = `os-${uid()}`;
        await store.putOuterStr(os2, { openid: 'mp-b', unionid: 'u-existing' }, Date.now() + 60_000);
        const b = await applyBind(store, cardId, '2102', { outerStr: os2 });
        assert.equal(b.unionid, 'u-existing');
        assert.equal(b.userOpenid, 'mp-b');
      });

      it('an outer_str without unionid binds the user only', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-only' }, Date.now() + 60_000);
        const b = await applyBind(store, cardId, '2201', { outerStr: os });
        assert.equal(b.userOpenid, 'mp-only');
        assert.equal(b.unionid, undefined);
      });

      it('an expired outer_str is not consumed', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-late', unionid: 'u-late' }, Date.now() + 40);
        await sleep(80);
        const b = await applyBind(store, cardId, '3001', { outerStr: os });
        assert.equal(b.userOpenid, undefined);
        assert.equal(b.unionid, undefined);
        assert.equal(await store.findBindingByUser(cardId, 'mp-late'), undefined);
        // An already expired one from the start, too.
        const os2 = `os-${uid()}`;
        await store.putOuterStr(os2, { openid: 'mp-late' }, Date.now() - 1000);
        assert.equal((await applyBind(store, cardId, '3002', { outerStr: os2 })).userOpenid, undefined);
      });

      it('an outer_str named by 10 concurrent notifications for different codes binds exactly one', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-race' }, Date.now() + 60_000);
        const codes = Array.from({ length: 10 }, (_, i) => `60${String(i).padStart(2, '0')}`);
        const results = await Promise.all(
          codes.map((code, i) =>
            (i % 2 ? other : store).applyNotification(record(cardId, code), bind(cardId, code, { outerStr: os })),
          ),
        );
        assert.deepEqual(
          results,
          codes.map(() => true),
        );
        const bound = (await Promise.all(codes.map((code) => store.getBinding(cardId, code)))).filter(
          (b) => b?.userOpenid === 'mp-race',
        );
        assert.equal(bound.length, 1);
        assert.equal((await store.findBindingByUser(cardId, 'mp-race'))?.code, bound[0]?.code);
      });

      it('flagBinding marks it flagged so it is no longer found', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-f' }, Date.now() + 60_000);
        await applyBind(store, cardId, '8001', { unionid: 'u-f', outerStr: os });
        await other.flagBinding(cardId, '8001');
        const flagged = await store.getBinding(cardId, '8001');
        assert.equal(flagged?.status, 'flagged');
        assert.equal(flagged?.userOpenid, 'mp-f');
        assert.equal(await store.findBindingByUser(cardId, 'mp-f'), undefined);
        assert.equal(await store.findBindingByUnionid(cardId, 'u-f'), undefined);
        await store.flagBinding(cardId, 'never-bound');
        assert.equal(await store.getBinding(cardId, 'never-bound'), undefined);
      });

      it('finds the most recently updated active binding, by unionid and by user', async () => {
        const cardId = card();
        const user = `mp-${uid()}`;
        const issue = async (): Promise<string> => {
          const os = `os-${uid()}`;
          await store.putOuterStr(os, { openid: user }, Date.now() + 60_000);
          return os;
        };
        await applyBind(store, cardId, 'A', { unionid: 'u-m', outerStr: await issue() });
        await sleep(3);
        await applyBind(store, cardId, 'B', { unionid: 'u-m', outerStr: await issue() });
        await sleep(3);
        await applyBind(store, cardId, 'C', { unionid: 'u-m', outerStr: await issue() });
        assert.equal((await store.findBindingByUnionid(cardId, 'u-m'))?.code, 'C');
        assert.equal((await store.findBindingByUser(cardId, user))?.code, 'C');

        await sleep(3);
        await store.applyNotification(record(cardId, 'C'), { kind: 'retire', cardId, code: 'C' });
        assert.equal((await store.findBindingByUnionid(cardId, 'u-m'))?.code, 'B');
        assert.equal((await other.findBindingByUser(cardId, user))?.code, 'B');

        await sleep(3);
        await store.flagBinding(cardId, 'B');
        assert.equal((await store.findBindingByUnionid(cardId, 'u-m'))?.code, 'A');
        assert.equal((await store.findBindingByUser(cardId, user))?.code, 'A');

        // Refreshing B (a new ACCEPT_CARD) makes it active and the newest again.
        await sleep(3);
        await applyBind(store, cardId, 'B', {});
        assert.equal((await store.findBindingByUnionid(cardId, 'u-m'))?.code, 'B');
        assert.equal((await store.findBindingByUser(cardId, user))?.code, 'B');

        // A refresh of A moves it ahead again.
        await sleep(3);
        await applyBind(store, cardId, 'A', {});
        assert.equal((await store.findBindingByUnionid(cardId, 'u-m'))?.code, 'A');
      });

      it('a binding moves to another outer_str user only once retired, then found under the new one only', async () => {
        const cardId = card();
        const os1 = `os-${uid()}`;
        const os2 = `os-${uid()}`;
        await store.putOuterStr(os1, { openid: 'mp-old' }, Date.now() + 60_000);
        await store.putOuterStr(os2, { openid: 'mp-new' }, Date.now() + 60_000);
        await applyBind(store, cardId, 'M1', { outerStr: os1 });
        await sleep(3);
        assert.equal((await applyBind(store, cardId, 'M1', { outerStr: os2 })).userOpenid, 'mp-old', 'held');
        await store.applyNotification(record(cardId, 'M1'), { kind: 'retire', cardId, code: 'M1' });
        await sleep(3);
        assert.equal((await applyBind(other, cardId, 'M1', { outerStr: os2 })).userOpenid, 'mp-new');
        assert.equal((await store.findBindingByUser(cardId, 'mp-new'))?.code, 'M1');
        assert.equal(await store.findBindingByUser(cardId, 'mp-old'), undefined);
      });

      it('refreshing a binding keeps userOpenid and createdAt, updates the rest', async () => {
        const cardId = card();
        const os = `os-${uid()}`;
        await store.putOuterStr(os, { openid: 'mp-k', unionid: 'u-k' }, Date.now() + 60_000);
        const first = await applyBind(store, cardId, '9001', { oaOpenid: 'oa-old', outerStr: os });
        await sleep(3);
        const refreshed = await applyBind(other, cardId, '9001', { oaOpenid: 'oa-new' });
        assert.equal(refreshed.userOpenid, 'mp-k');
        assert.equal(refreshed.unionid, 'u-k');
        assert.equal(refreshed.oaOpenid, 'oa-new');
        assert.equal(refreshed.createdAt, first.createdAt);
        assert.ok(refreshed.updatedAt > first.updatedAt);
        // Naming the already consumed outer_str again changes nothing.
        const again = await applyBind(store, cardId, '9001', { outerStr: os });
        assert.equal(again.userOpenid, 'mp-k');
        assert.equal(again.oaOpenid, 'oa-new');
      });

      if (engine.shared) {
        it('a binding made through one instance is read through another', async () => {
          const cardId = card();
          const made = await applyBind(store, cardId, '9901', { unionid: 'u-shared' });
          assert.deepEqual(await other.getBinding(cardId, '9901'), made);
          assert.deepEqual(await other.findBindingByUnionid(cardId, 'u-shared'), made);
        });
      }
    });

    describe('outer_str: who may have a code (issue 12, finding 1: binding takeover)', () => {
      /** Applies a bind and answers the binding afterwards and what the observer was told. */
      const bindSeen = async (
        s: Store,
        cardId: string,
        code: string,
        extra: Parameters<typeof bind>[2],
      ): Promise<{ binding: Binding | undefined; refused: string[] }> => {
        const refused: string[] = [];
        const applied = await s.applyNotification(record(cardId, code), bind(cardId, code, extra), {
          outerStrRefused: (reason) => refused.push(reason),
        });
        assert.equal(applied, true);
        return { binding: await s.getBinding(cardId, code), refused };
      };
      const issue = async (user: { openid: string; unionid?: string }): Promise<string> => {
        const os = `os-${uid()}`;
        await store.putOuterStr(os, user, Date.now() + 60_000);
        return os;
      };

      it('another unionid in the notification than the owner’s: ignored, reported, still pending', async () => {
        const cardId = card();
        const os = await issue({ openid: 'mp-att', unionid: 'u-att' });
        const { binding, refused } = await bindSeen(store, cardId, 'T1', { unionid: 'u-victim', outerStr: os });
        assert.deepEqual(refused, ['unionid_mismatch']);
        assert.deepEqual([binding?.unionid, binding?.userOpenid], ['u-victim', undefined]);
        assert.equal(await store.findBindingByUser(cardId, 'mp-att'), undefined);
        // Its owner can still use it on their own acceptance.
        const own = await bindSeen(other, cardId, 'T2', { unionid: 'u-att', outerStr: os });
        assert.deepEqual([own.binding?.userOpenid, own.refused], ['mp-att', []]);
      });

      it('a new code binds the owner when the unionids agree, or when either is unknown', async () => {
        const cardId = card();
        for (const [code, owner, given] of [
          ['T3', { openid: 'mp-3', unionid: 'u-3' }, 'u-3'],
          ['T4', { openid: 'mp-4' }, 'u-4'],
          ['T5', { openid: 'mp-5', unionid: 'u-5' }, undefined],
        ] as const) {
          const os = await issue(owner);
          const seen = await bindSeen(store, cardId, code, { ...(given ? { unionid: given } : {}), outerStr: os });
          assert.deepEqual([seen.binding?.userOpenid, seen.refused], [owner.openid, []], code);
        }
      });

      it('a code actively held by another user is not taken; the attacker’s outer_str stays pending', async () => {
        const cardId = card();
        await applyBind(store, cardId, 'H1', { unionid: 'u-v', outerStr: await issue({ openid: 'mp-v' }) });
        const attacker = await issue({ openid: 'mp-x' });
        const held = await bindSeen(other, cardId, 'H1', { unionid: 'u-v', outerStr: attacker });
        assert.deepEqual(held.refused, ['code_held']);
        assert.deepEqual([held.binding?.userOpenid, held.binding?.unionid], ['mp-v', 'u-v']);
        assert.equal(await store.findBindingByUser(cardId, 'mp-x'), undefined);
        // Held by a person of another unionid, with no mini-program user yet…
        await applyBind(store, cardId, 'H2', { unionid: 'u-w' });
        const otherPerson = await bindSeen(store, cardId, 'H2', {
          outerStr: await issue({ openid: 'mp-y', unionid: 'u-y' }),
        });
        assert.deepEqual([otherPerson.refused, otherPerson.binding?.userOpenid], [['code_held'], undefined]);
        // …or by a unionid alone, against an owner whose unionid is unknown: a merchant's bind says the same.
        const unknown = await bindSeen(store, cardId, 'H2', { unionid: 'u-w', outerStr: attacker });
        assert.deepEqual([unknown.refused, unknown.binding?.userOpenid], [['code_held'], undefined]);
        // The attacker's outer_str was never consumed.
        const later = await bindSeen(store, cardId, 'H3', { outerStr: attacker });
        assert.equal(later.binding?.userOpenid, 'mp-x');
      });

      it('the holder accepting again with their own outer_str refreshes the binding', async () => {
        const cardId = card();
        const owner = { openid: 'mp-again', unionid: 'u-again' };
        await applyBind(store, cardId, 'H4', { outerStr: await issue(owner) });
        const again = await bindSeen(store, cardId, 'H4', { unionid: 'u-again', outerStr: await issue(owner) });
        assert.deepEqual([again.refused, again.binding?.userOpenid, again.binding?.status], [[], 'mp-again', 'active']);
      });

      it('once retired (user deleted it) or flagged, a new acceptance moves it, keeping nothing old', async () => {
        const cardId = card();
        await applyBind(store, cardId, 'R1', {
          unionid: 'u-first',
          oaOpenid: 'oa-first',
          outerStr: await issue({ openid: 'mp-first' }),
        });
        await store.applyNotification(record(cardId, 'R1'), { kind: 'retire', cardId, code: 'R1' });
        const moved = await bindSeen(other, cardId, 'R1', { outerStr: await issue({ openid: 'mp-second' }) });
        assert.deepEqual(moved.refused, []);
        const { createdAt: _c, updatedAt: _u, ...rest } = moved.binding as Binding;
        assert.deepEqual(rest, { cardId, code: 'R1', status: 'active', userOpenid: 'mp-second' });
        assert.equal(await store.findBindingByUnionid(cardId, 'u-first'), undefined);
        assert.equal(await store.findBindingByUser(cardId, 'mp-first'), undefined);

        await store.flagBinding(cardId, 'R1');
        const third = await bindSeen(store, cardId, 'R1', {
          unionid: 'u-third',
          outerStr: await issue({ openid: 'mp-third', unionid: 'u-third' }),
        });
        assert.deepEqual([third.binding?.userOpenid, third.binding?.unionid], ['mp-third', 'u-third']);
      });

      it('10 users’ outer_strs on one new code at once (across instances if shared): one user gets it', async () => {
        const cardId = card();
        const owners = Array.from({ length: 10 }, (_, i) => ({ openid: `mp-race-${i}` }));
        const outers = await Promise.all(owners.map((o) => issue(o)));
        const refused: string[] = [];
        await Promise.all(
          outers.map((os, i) =>
            (i % 2 ? other : store).applyNotification(record(cardId, 'RC'), bind(cardId, 'RC', { outerStr: os }), {
              outerStrRefused: (reason) => refused.push(reason),
            }),
          ),
        );
        const holder = (await store.getBinding(cardId, 'RC'))?.userOpenid;
        assert.ok(holder && owners.some((o) => o.openid === holder), `held by ${holder}`);
        assert.deepEqual(refused, Array(9).fill('code_held'));
        // The nine others' outer_strs are still theirs to use.
        const losers = outers.filter((_, i) => owners[i]?.openid !== holder);
        const rebound = await Promise.all(
          losers.map(async (os, i) => (await applyBind(store, cardId, `RC-${i}`, { outerStr: os })).userOpenid),
        );
        assert.equal(new Set(rebound).size, 9);
        assert.ok(!rebound.includes(holder));
      });
    });

    describe('OuterStrIssuer: issueOuterStr (issue 12, finding 4: one live outer_str per user and card)', () => {
      const issue = (s: Store, cardId: string, user: { openid: string; unionid?: string }, ttlMs = 60_000) =>
        s.issueOuterStr(cardId, user, `os-${uid()}`, Date.now() + ttlMs);

      it('the same user and card get the same outer_str, its life renewed; others get their own', async () => {
        const [a, b] = [card(), card()];
        const first = await issue(store, a, { openid: 'mp-i' }, 1000); // room for a loaded machine
        assert.match(first, /^os-/);
        assert.equal(await issue(other, a, { openid: 'mp-i' }), first, 'reused, whichever instance answers');
        assert.notEqual(await issue(store, b, { openid: 'mp-i' }), first, 'another card');
        assert.notEqual(await issue(store, a, { openid: 'mp-j' }), first, 'another user');
        await sleep(1100); // past the first expiry: the second call renewed it
        assert.equal((await applyBind(store, a, 'I1', { outerStr: first })).userOpenid, 'mp-i');
        // Consumed: the next call hands out a new one.
        const next = await issue(store, a, { openid: 'mp-i' });
        assert.notEqual(next, first);
        assert.equal((await applyBind(store, a, 'I2', { outerStr: next })).userOpenid, 'mp-i');
      });

      it('an expired one is replaced, never revived', async () => {
        const cardId = card();
        const old = await issue(store, cardId, { openid: 'mp-exp' }, 40);
        await sleep(80);
        const fresh = await issue(other, cardId, { openid: 'mp-exp' });
        assert.notEqual(fresh, old);
        assert.equal((await applyBind(store, cardId, 'I3', { outerStr: old })).userOpenid, undefined);
        assert.equal((await applyBind(store, cardId, 'I4', { outerStr: fresh })).userOpenid, 'mp-exp');
      });

      it('renewing takes the unionid the user has now', async () => {
        const cardId = card();
        const os = await issue(store, cardId, { openid: 'mp-u' });
        assert.equal(await issue(store, cardId, { openid: 'mp-u', unionid: 'u-now' }), os);
        const refused: string[] = [];
        await store.applyNotification(record(cardId, 'I5'), bind(cardId, 'I5', { unionid: 'u-else', outerStr: os }), {
          outerStrRefused: (reason) => refused.push(reason),
        });
        assert.deepEqual(refused, ['unionid_mismatch'], 'the owner’s unionid is now known');
        assert.equal((await applyBind(store, cardId, 'I6', { unionid: 'u-now', outerStr: os })).userOpenid, 'mp-u');
      });

      it('an outer_str issued for one card binds no other card', async () => {
        const [a, b] = [card(), card()];
        const os = await issue(store, a, { openid: 'mp-card' });
        assert.equal((await applyBind(store, b, 'I7', { outerStr: os })).userOpenid, undefined);
        assert.equal((await applyBind(other, a, 'I8', { outerStr: os })).userOpenid, 'mp-card', 'still pending for a');
      });

      it('10 calls at once for one user (across instances if shared) hand out one outer_str', async () => {
        const cardId = card();
        const given = await Promise.all(
          Array.from({ length: 10 }, (_, i) => issue(i % 2 ? other : store, cardId, { openid: 'mp-burst' })),
        );
        assert.equal(new Set(given).size, 1, given.join(' '));
      });
    });

    describe('SessionStore: putSession, getSession, deleteSession', () => {
      it('put, get (from another instance), overwrite, delete', async () => {
        const hash = `h-${uid()}`;
        const session = { openid: 'mp-s', unionid: 'u-s', expiresAt: Date.now() + 60_000 };
        await store.putSession(hash, session);
        assert.deepEqual(await other.getSession(hash), session);
        const plain = { openid: 'mp-s2', expiresAt: Date.now() + 120_000 };
        await other.putSession(hash, plain);
        assert.deepEqual(await store.getSession(hash), plain, 'overwritten, without the old unionid');
        assert.equal(await store.getSession(`h-${uid()}`), undefined);
        await store.deleteSession(hash);
        assert.equal(await other.getSession(hash), undefined);
        await store.deleteSession(hash); // deleting twice is fine
      });

      it('a session expires at its expiresAt', async () => {
        const hash = `h-${uid()}`;
        // 1 s of life: a loaded machine may take tens of ms between the put and the get.
        await store.putSession(hash, { openid: 'mp-e', expiresAt: Date.now() + 1000 });
        assert.equal((await store.getSession(hash))?.openid, 'mp-e');
        await sleep(1100);
        assert.equal(await store.getSession(hash), undefined);
        const past = `h-${uid()}`;
        await store.putSession(past, { openid: 'mp-e', expiresAt: Date.now() - 1 });
        assert.equal(await store.getSession(past), undefined);
      });

      it('sessions are kept apart: deleting one leaves the others, and separators do not collide', async () => {
        const base = `h-${uid()}`;
        const a = { openid: 'mp-a', expiresAt: Date.now() + 60_000 };
        const ab = { openid: 'mp-ab', unionid: 'u-ab', expiresAt: Date.now() + 60_000 };
        await store.putSession(`${base}:a`, a);
        await store.putSession(`${base}:a:b`, ab);
        assert.deepEqual(await other.getSession(`${base}:a`), a);
        await other.deleteSession(`${base}:a`);
        assert.equal(await store.getSession(`${base}:a`), undefined);
        assert.deepEqual(await store.getSession(`${base}:a:b`), ab);
      });
    });

    describe('RateLimitStore: takeTokens', () => {
      const slow = { capacity: 3, refillPerSecond: 0.001 };

      it('a full bucket gives `capacity` tokens, then refuses and says when the next one comes', async () => {
        const key = `login:ip:${uid()}`;
        const takes = [];
        for (let i = 0; i < 4; i++) takes.push(await store.takeTokens(key, { capacity: 3, refillPerSecond: 2 }));
        assert.deepEqual(
          takes.map((t) => t.allowed),
          [true, true, true, false],
        );
        assert.ok(Math.abs((takes[0]?.remaining ?? 0) - 2) < 0.05, `remaining ${takes[0]?.remaining}`);
        const refused = takes[3];
        assert.ok(refused?.retryAfterMs !== undefined && refused.retryAfterMs > 0 && refused.retryAfterMs <= 500);
      });

      it('refills at its rate: a refused key is allowed again once a token has come back', async () => {
        const key = `refill:${uid()}`;
        const fast = { capacity: 1, refillPerSecond: 20 };
        assert.equal((await store.takeTokens(key, fast)).allowed, true);
        assert.equal((await store.takeTokens(key, fast)).allowed, false);
        await sleep(80);
        assert.equal((await store.takeTokens(key, fast)).allowed, true, 'a token came back after 50 ms');
      });

      it('a cost is taken whole or not at all; keys are independent, whatever they hold', async () => {
        const key = `cost:${uid()}`;
        assert.equal((await store.takeTokens(key, slow, 2)).allowed, true);
        const refused = await store.takeTokens(key, slow, 2);
        assert.equal(refused.allowed, false);
        assert.ok(Math.abs(refused.remaining - 1) < 0.05, 'nothing was taken by the refused cost');
        assert.equal((await store.takeTokens(key, slow, 1)).allowed, true);
        for (const odd of [`a:b:${uid()}`, `a b ${uid()}`, `会员🧋${uid()}`, `%2F${uid()}`]) {
          assert.equal((await store.takeTokens(odd, slow, 3)).allowed, true, odd);
          assert.equal((await store.takeTokens(odd, slow, 1)).allowed, false, odd);
        }
        await assert.rejects(store.takeTokens(key, slow, 4), /cost/);
        await assert.rejects(store.takeTokens('', slow), /key/);
        await assert.rejects(store.takeTokens(key, { capacity: 0, refillPerSecond: 1 }), /capacity/);
      });

      it('a cost of 0 looks without taking: what the bucket holds, full when new', async () => {
        const key = `peek:${uid()}`;
        const fresh = await store.takeTokens(key, slow, 0);
        assert.deepEqual([fresh.allowed, Math.round(fresh.remaining)], [true, 3]);
        await store.takeTokens(key, slow, 3);
        const empty = await other.takeTokens(key, slow, 0);
        assert.deepEqual([empty.allowed, Math.round(empty.remaining)], [true, 0], 'a look is never refused');
        assert.equal((await store.takeTokens(key, slow, 0)).remaining < 1, true, 'looking took nothing back');
        assert.equal((await store.takeTokens(key, slow)).allowed, false);
        await assert.rejects(store.takeTokens(key, slow, -1), /cost/);
      });

      it('40 takes at once on two instances of one location: exactly `capacity` are allowed', async () => {
        const key = `race:${uid()}`;
        const bucket = { capacity: 10, refillPerSecond: 0.001 };
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 ? store : other).takeTokens(key, bucket)),
        );
        assert.equal(results.filter((r) => r.allowed).length, 10);
      });
    });

    describe('LockStore: acquireLock, extendLock, releaseLock', () => {
      it('a lock is taken by one token only, extended and released only by its holder', async () => {
        const name = `lock-${uid()}`;
        assert.equal(await store.acquireLock(name, 'a', 10_000), true);
        assert.equal(await other.acquireLock(name, 'b', 10_000), false, 'held');
        assert.equal(await store.acquireLock(name, 'a', 10_000), false, 'not re-entrant');
        assert.equal(await other.extendLock(name, 'b', 10_000), false);
        assert.equal(await other.extendLock(name, 'a', 10_000), true);
        assert.equal(await other.releaseLock(name, 'b'), false, 'another token cannot release it');
        assert.equal(await other.acquireLock(name, 'b', 10_000), false, 'still held after the wrong release');
        assert.equal(await store.releaseLock(name, 'a'), true);
        assert.equal(await store.releaseLock(name, 'a'), false, 'released once');
        assert.equal(await other.acquireLock(name, 'b', 10_000), true, 'free again');
        assert.equal(await store.extendLock(name, 'a', 10_000), false, 'the old holder cannot extend the new lease');
        await other.releaseLock(name, 'b');
        // Names are independent, including ones with separators.
        assert.equal(await store.acquireLock(`${name}:x`, 'a', 10_000), true);
        assert.equal(await store.acquireLock(`${name}:y`, 'b', 10_000), true);
      });

      it('a lease expires: another token takes it, and the old holder can neither extend nor release it', async () => {
        const name = `lock-${uid()}`;
        assert.equal(await store.acquireLock(name, 'old', 60), true);
        await sleep(150);
        assert.equal(await other.acquireLock(name, 'new', 10_000), true);
        assert.equal(await store.extendLock(name, 'old', 10_000), false);
        assert.equal(await store.releaseLock(name, 'old'), false);
        assert.equal(await store.acquireLock(name, 'third', 10_000), false, 'the new holder keeps it');
        // An extended lease outlives its first ttl.
        const kept = `lock-${uid()}`;
        assert.equal(await store.acquireLock(kept, 't', 600), true);
        await sleep(100);
        assert.equal(await store.extendLock(kept, 't', 10_000), true);
        await sleep(700);
        assert.equal(await other.acquireLock(kept, 'u', 10_000), false);
      });

      it('20 concurrent takers (across instances when shared) get the lock exactly once', async () => {
        const name = `lock-${uid()}`;
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).acquireLock(name, `t${i}`, 10_000)),
        );
        assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
      });

      it('a lease that ran out unclaimed can be neither extended nor released, even by its holder', async () => {
        const name = `lock-${uid()}`;
        assert.equal(await store.acquireLock(name, 'mine', 60), true);
        await sleep(150);
        assert.equal(await other.extendLock(name, 'mine', 10_000), false);
        assert.equal(await store.releaseLock(name, 'mine'), false);
        assert.equal(await other.acquireLock(name, 'next', 10_000), true, 'free for the next taker');
      });
    });

    describe('JournalStore: insertOperation, getOperation, finishOperation, listPendingOperations, listAudit', () => {
      it('insertOperation inserts once, under a held lock only, and returns an existing entry unchanged', async () => {
        const cardId = card();
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const op = operation(cardId, 'C1');
        assert.deepEqual(await store.insertOperation(op, { lock, token: 'tok' }), { outcome: 'inserted' });
        assert.deepEqual(await other.getOperation(cardId, op.requestId), op);
        // Same key, other parameters: the first entry wins and is returned.
        const again = { ...op, amount: 999, after: 1499 };
        assert.deepEqual(await other.insertOperation(again, { lock, token: 'tok' }), {
          outcome: 'exists',
          operation: op,
        });
        assert.deepEqual(await store.insertOperation(again, { lock, token: 'not-mine' }), {
          outcome: 'exists',
          operation: op,
        });
        // Fencing: a token that does not hold the lock inserts nothing.
        const fenced = operation(cardId, 'C1');
        assert.deepEqual(await other.insertOperation(fenced, { lock, token: 'not-mine' }), { outcome: 'lock_lost' });
        assert.deepEqual(await other.insertOperation(fenced, { lock: `lock-${uid()}`, token: 'tok' }), {
          outcome: 'lock_lost',
        });
        assert.equal(await store.getOperation(cardId, fenced.requestId), undefined);
        assert.equal(await store.getOperation(card(), op.requestId), undefined, 'keyed by card too');
        // …nor after the lease ran out.
        const short = `lock-${uid()}`;
        await store.acquireLock(short, 'tok', 50);
        await sleep(120);
        assert.deepEqual(await store.insertOperation(fenced, { lock: short, token: 'tok' }), { outcome: 'lock_lost' });
        assert.equal(await store.getOperation(cardId, fenced.requestId), undefined);
      });

      it('values round-trip: big safe integers, negative amounts, strings, absent fields, a failed entry', async () => {
        const cardId = card();
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const big = operation(cardId, 'C2', { amount: -(2 ** 53 - 1), before: 2 ** 53 - 1, after: 0 });
        const level = operation(cardId, 'C2', { kind: 'level', value: '钻石会员', before: '金卡', after: '钻石会员' });
        delete level.amount;
        delete level.remark;
        delete level.actor;
        const noBefore = operation(cardId, 'C2', { kind: 'membership_number', value: 'A-1:b', after: 'A-1:b' });
        delete noBefore.before;
        delete noBefore.amount;
        const failed = operation(cardId, 'C2', {
          state: 'failed',
          error: { code: 'INSUFFICIENT_BALANCE', message: '余额不足' },
          amount: -700,
          after: -200,
        });
        for (const op of [big, level, noBefore, failed]) {
          assert.deepEqual(await store.insertOperation(op, { lock, token: 'tok' }), { outcome: 'inserted' });
          assert.deepEqual(await other.getOperation(cardId, op.requestId), op);
        }
        assert.deepEqual(
          (await store.listPendingOperations(cardId, 'C2')).map((o) => o.requestId),
          [big.requestId, level.requestId, noBefore.requestId],
          'pending only, oldest first',
        );
      });

      it('finishOperation moves a pending entry once, adds one audit line when applied; lists per code', async () => {
        const cardId = card();
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const a = operation(cardId, 'C3', { before: 0, after: 100, amount: 100 });
        const b = operation(cardId, 'C3', { kind: 'points', before: 10, after: 5, amount: -5 });
        const c = operation(cardId, 'C3', { kind: 'level', value: 'VIP', before: '普通', after: 'VIP' });
        delete c.amount;
        const elsewhere = operation(cardId, 'C4');
        for (const op of [a, b, c, elsewhere]) await store.insertOperation(op, { lock, token: 'tok' });
        assert.deepEqual(
          (await other.listPendingOperations(cardId, 'C3')).map((o) => o.requestId),
          [a.requestId, b.requestId, c.requestId],
        );

        const before = Date.now();
        const done = await store.finishOperation(cardId, a.requestId, { state: 'applied' });
        assert.equal(done.changed, true);
        assert.equal(done.operation?.state, 'applied');
        assert.ok((done.operation?.updatedAt ?? 0) >= before);
        assert.deepEqual({ ...done.operation, updatedAt: 0 }, { ...a, state: 'applied', updatedAt: 0 });
        const twice = await other.finishOperation(cardId, a.requestId, {
          state: 'failed',
          error: { code: 'X', message: 'x' },
        });
        assert.equal(twice.changed, false);
        assert.deepEqual(twice.operation, done.operation, 'a finished entry is left as it is');

        const refused = await other.finishOperation(cardId, b.requestId, {
          state: 'failed',
          error: { code: 'INVALID_REQUEST', message: 'refused' },
        });
        assert.equal(refused.changed, true);
        assert.deepEqual(refused.operation?.error, { code: 'INVALID_REQUEST', message: 'refused' });
        assert.equal((await store.getOperation(cardId, b.requestId))?.state, 'failed');
        await sleep(3);
        assert.equal((await store.finishOperation(cardId, c.requestId, { state: 'applied' })).changed, true);

        assert.deepEqual(await store.listPendingOperations(cardId, 'C3'), []);
        assert.deepEqual(
          (await store.listPendingOperations(cardId, 'C4')).map((o) => o.requestId),
          [elsewhere.requestId],
        );
        assert.deepEqual(await store.finishOperation(cardId, `r-${uid()}`, { state: 'applied' }), {
          changed: false,
          operation: undefined,
        });

        const trail = await other.listAudit(cardId, 'C3', 10);
        assert.equal(trail.length, 2, 'applied changes only');
        const [newest, oldest] = trail;
        assert.deepEqual(
          { ...newest, at: 0 },
          {
            cardId,
            code: 'C3',
            requestId: c.requestId,
            kind: 'level',
            actor: 'till-1',
            value: 'VIP',
            remark: '充值',
            before: '普通',
            after: 'VIP',
            at: 0,
          },
        );
        assert.deepEqual(
          { ...oldest, at: 0 },
          {
            cardId,
            code: 'C3',
            requestId: a.requestId,
            kind: 'balance',
            actor: 'till-1',
            amount: 100,
            remark: '充值',
            before: 0,
            after: 100,
            at: 0,
          },
        );
        assert.ok((oldest?.at ?? 0) >= before && (newest?.at ?? 0) >= (oldest?.at ?? 0));
        assert.deepEqual(
          (await store.listAudit(cardId, 'C3', 1)).map((e) => e.requestId),
          [c.requestId],
          'limit',
        );
        assert.deepEqual(await store.listAudit(cardId, 'C3', 0), []);
        assert.deepEqual(await store.listAudit(cardId, 'C4', 10), []);
      });

      it('10 concurrent finishers of one entry (across instances if shared): one change, one audit line', async () => {
        const cardId = card();
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const op = operation(cardId, 'C5');
        await store.insertOperation(op, { lock, token: 'tok' });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? other : store).finishOperation(cardId, op.requestId, { state: 'applied' }),
          ),
        );
        assert.equal(results.filter((r) => r.changed).length, 1);
        assert.equal((await store.listAudit(cardId, 'C5', 10)).length, 1);
      });

      it('entries and audit lines are kept per card: the same code or requestId on another card is apart', async () => {
        const [a, b] = [card(), card()];
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const onA = operation(a, 'SAME');
        const onB = operation(b, 'SAME');
        for (const op of [onA, onB]) await store.insertOperation(op, { lock, token: 'tok' });
        assert.deepEqual(
          (await other.listPendingOperations(a, 'SAME')).map((o) => o.requestId),
          [onA.requestId],
        );
        assert.equal((await store.finishOperation(b, onB.requestId, { state: 'applied' })).changed, true);
        assert.deepEqual(
          (await other.listAudit(b, 'SAME', 10)).map((e) => e.requestId),
          [onB.requestId],
        );
        assert.deepEqual(await other.listAudit(a, 'SAME', 10), []);
        assert.deepEqual(await store.listPendingOperations(b, 'SAME'), []);
        assert.equal((await store.getOperation(a, onA.requestId))?.state, 'pending', 'the other card is untouched');
        // A requestId is the caller's key per card: on another card it is another entry.
        const twin = { ...operation(b, 'OTHER'), requestId: onA.requestId };
        assert.deepEqual(await store.insertOperation(twin, { lock, token: 'tok' }), { outcome: 'inserted' });
        assert.deepEqual(await other.getOperation(b, onA.requestId), twin);
        assert.deepEqual(await other.getOperation(a, onA.requestId), onA);
      });
    });

    describe('MerchantBindingStore: bindByMerchant', () => {
      /** Optional for a host's own object; every engine has it. */
      const bindBy = (s: Store, bind: MerchantBinding) => {
        assert.ok(s.bindByMerchant, `${engine.name} implements bindByMerchant`);
        return s.bindByMerchant(bind);
      };
      const merchantBind = (cardId: string, code: string, extra: Partial<MerchantBinding> = {}): MerchantBinding => ({
        cardId,
        code,
        user: { openid: 'mp-m1', unionid: 'u-m1' },
        oaOpenid: 'oa-m1',
        actor: 'cashier-9',
        requestId: `bind-${uid()}`,
        ...extra,
      });

      it('binds a code nobody holds, findable by user and unionid, with an audit line naming the actor', async () => {
        const cardId = card();
        const bind = merchantBind(cardId, 'B1');
        const result = await bindBy(store, bind);
        assert.equal(result.outcome, 'bound');
        const { createdAt, updatedAt, ...rest } = result.binding;
        assert.deepEqual(rest, {
          cardId,
          code: 'B1',
          status: 'active',
          userOpenid: 'mp-m1',
          unionid: 'u-m1',
          oaOpenid: 'oa-m1',
        });
        assert.ok(createdAt > 0 && updatedAt >= createdAt);
        assert.deepEqual(await other.getBinding(cardId, 'B1'), result.binding);
        assert.deepEqual(await other.findBindingByUser(cardId, 'mp-m1'), result.binding);
        assert.deepEqual(await other.findBindingByUnionid(cardId, 'u-m1'), result.binding);
        const trail = await other.listAudit(cardId, 'B1', 10);
        assert.equal(trail.length, 1);
        const { at, ...line } = trail[0] as AuditEntry;
        assert.deepEqual(line, {
          cardId,
          code: 'B1',
          requestId: bind.requestId,
          kind: 'bind',
          actor: 'cashier-9',
          after: 'mp-m1',
        });
        assert.ok(at >= createdAt);
      });

      it('the same user again is unchanged and writes nothing; another user while active is a conflict', async () => {
        const cardId = card();
        const first = await bindBy(store, merchantBind(cardId, 'B2'));
        const again = await bindBy(other, merchantBind(cardId, 'B2'));
        assert.equal(again.outcome, 'unchanged');
        assert.deepEqual(again.binding, first.binding);
        const conflict = await bindBy(other, merchantBind(cardId, 'B2', { user: { openid: 'mp-intruder' } }));
        assert.equal(conflict.outcome, 'conflict');
        assert.deepEqual(conflict.binding, first.binding);
        const otherUnion = merchantBind(cardId, 'B2', { user: { openid: 'mp-m1', unionid: 'u-other' } });
        assert.equal((await bindBy(store, otherUnion)).outcome, 'conflict', 'same openid, another unionid');
        assert.deepEqual(await store.getBinding(cardId, 'B2'), first.binding, 'nothing changed');
        assert.equal((await store.listAudit(cardId, 'B2', 10)).length, 1, 'one audit line');
      });

      it('takes over a binding with no user (keeping its unionid and openid), or a flagged one', async () => {
        const cardId = card();
        const notified = await applyBind(store, cardId, 'B3', { unionid: 'u-n', oaOpenid: 'oa-n' });
        const unknownUnionid = await bindBy(store, merchantBind(cardId, 'B3', { user: { openid: 'mp-n' } }));
        assert.equal(
          unknownUnionid.outcome,
          'conflict',
          'held by unionid u-n: a user of unknown unionid cannot take it',
        );
        const bound = await bindBy(
          other,
          merchantBind(cardId, 'B3', { user: { openid: 'mp-n', unionid: 'u-n' }, oaOpenid: undefined, actor: 'ops' }),
        );
        assert.equal(bound.outcome, 'bound');
        assert.deepEqual(
          [bound.binding.userOpenid, bound.binding.unionid, bound.binding.oaOpenid, bound.binding.createdAt],
          ['mp-n', 'u-n', 'oa-n', notified.createdAt],
        );
        await store.flagBinding(cardId, 'B3');
        const rebound = await bindBy(store, merchantBind(cardId, 'B3', { user: { openid: 'mp-new' } }));
        assert.equal(rebound.outcome, 'bound', 'a flagged binding is not active: the merchant may rebind it');
        assert.equal(rebound.binding.userOpenid, 'mp-new');
        assert.equal(rebound.binding.unionid, undefined, "the flagged binding's unionid is not carried over");
        assert.equal(rebound.binding.oaOpenid, 'oa-m1', 'the openid of the card as WeChat Pay answered it');
        assert.equal(await other.findBindingByUnionid(cardId, 'u-n'), undefined);
        assert.equal((await other.findBindingByUser(cardId, 'mp-new'))?.code, 'B3');
        assert.equal(await other.findBindingByUser(cardId, 'mp-n'), undefined, 'the old user no longer finds it');
        const trail = await other.listAudit(cardId, 'B3', 10);
        assert.deepEqual(
          trail.map((e) => [e.kind, e.before, e.after]),
          [
            ['bind', 'mp-n', 'mp-new'],
            ['bind', undefined, 'mp-n'],
          ],
          'newest first; before is the user bound before',
        );
      });

      it('10 concurrent binds of one code to different users (across instances if shared): one wins', async () => {
        const cardId = card();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            bindBy(i % 2 ? other : store, merchantBind(cardId, 'B4', { user: { openid: `mp-race-${i}` } })),
          ),
        );
        assert.equal(results.filter((r) => r.outcome === 'bound').length, 1);
        assert.equal(results.filter((r) => r.outcome === 'conflict').length, 9);
        assert.equal((await store.listAudit(cardId, 'B4', 20)).length, 1);
      });

      if (engine.shared) {
        it('the binding and its audit line survive a restart (a fresh store on the same location)', async () => {
          const cardId = card();
          const made = await bindBy(store, merchantBind(cardId, 'B5'));
          const fresh = engine.open();
          await fresh.init();
          try {
            assert.deepEqual(await fresh.getBinding(cardId, 'B5'), made.binding);
            assert.deepEqual(
              (await fresh.listAudit(cardId, 'B5', 10)).map((e) => [e.kind, e.actor, e.after]),
              [['bind', 'cashier-9', 'mp-m1']],
            );
          } finally {
            await fresh.close();
          }
        });
      }
    });

    describe('MemberCodeStore: putMemberCode, consumeMemberCode', () => {
      /** Optional for a host's own object; every engine has it. */
      const put = (s: Store, hash: string, entry: MemberCodeEntry) => {
        assert.ok(s.putMemberCode, `${engine.name} implements putMemberCode`);
        return s.putMemberCode(hash, entry);
      };
      const consume = (s: Store, hash: string) => {
        assert.ok(s.consumeMemberCode, `${engine.name} implements consumeMemberCode`);
        return s.consumeMemberCode(hash);
      };
      const entry = (cardId: string, code: string, ttlMs = 60_000): MemberCodeEntry => ({
        cardId,
        code,
        userOpenid: `mp-${uid()}`,
        expiresAt: Date.now() + ttlMs,
      });

      it('a code is consumed once (read through another instance), an unknown one is undefined', async () => {
        const cardId = card();
        const hash = `h-${uid()}`;
        const e = entry(cardId, 'M1');
        await put(store, hash, e);
        assert.deepEqual(await consume(other, hash), e);
        assert.equal(await consume(store, hash), undefined, 'a second consume');
        assert.equal(await consume(other, `h-${uid()}`), undefined, 'unknown');
      });

      it('an expired code is not consumed', async () => {
        const hash = `h-${uid()}`;
        await put(store, hash, entry(card(), 'M2', 40));
        await sleep(80);
        assert.equal(await consume(other, hash), undefined);
      });

      it('only the newest code of a card is valid; other cards keep theirs', async () => {
        const cardId = card();
        const [first, second, elsewhere] = [`h-${uid()}`, `h-${uid()}`, `h-${uid()}`];
        await put(store, first, entry(cardId, 'M3'));
        await put(other, elsewhere, entry(cardId, 'M4'));
        const newest = entry(cardId, 'M3');
        await put(other, second, newest);
        assert.equal(await consume(store, first), undefined, 'replaced');
        assert.deepEqual(await consume(store, second), newest);
        assert.ok(await consume(store, elsewhere), 'another card’s code stands');
      });

      it('20 concurrent verifiers of one code (across instances if shared): exactly one gets it', async () => {
        const hash = `h-${uid()}`;
        await put(store, hash, entry(card(), 'M5'));
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => consume(i % 2 ? other : store, hash)));
        assert.equal(results.filter((r) => r !== undefined).length, 1);
      });
    });

    describe('HistoryStore: listAuditPage', () => {
      const page = (s: Store, cardId: string, code: string, p: Parameters<NonNullable<Store['listAuditPage']>>[2]) => {
        assert.ok(s.listAuditPage, `${engine.name} implements listAuditPage`);
        return s.listAuditPage(cardId, code, p);
      };

      it('pages newest first by kind, with a cursor that holds while lines are appended', async () => {
        const cardId = card();
        const lock = `lock-${uid()}`;
        await store.acquireLock(lock, 'tok', 10_000);
        const apply = async (extra: Partial<Operation>, code = 'H1') => {
          const op = operation(cardId, code, extra);
          await store.insertOperation(op, { lock, token: 'tok' });
          await store.finishOperation(cardId, op.requestId, { state: 'applied' });
          return op.requestId;
        };
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push(await apply({ amount: i + 1, after: 600 + i }));
          // A kind the page leaves out, between the others.
          await apply({ kind: 'membership_number', value: `N${i}`, before: 'x', after: `N${i}` });
        }
        ids.push(await apply({ kind: 'points', amount: -5, before: 10, after: 5 }));
        await apply({}, 'H2'); // another code on the card
        const kinds = ['balance', 'points', 'level'] as const;
        const first = await page(other, cardId, 'H1', { limit: 2, kinds });
        assert.deepEqual(
          first.entries.map((e) => e.requestId),
          [ids[5], ids[4]],
        );
        assert.equal(first.entries[0]?.kind, 'points');
        assert.equal(typeof first.next, 'number');
        // Lines appended meanwhile do not move the next page.
        await apply({ amount: 99, after: 999 });
        const second = await page(store, cardId, 'H1', { limit: 2, kinds, before: first.next });
        assert.deepEqual(
          second.entries.map((e) => e.requestId),
          [ids[3], ids[2]],
        );
        const third = await page(other, cardId, 'H1', { limit: 2, kinds, before: second.next });
        assert.deepEqual(
          third.entries.map((e) => e.requestId),
          [ids[1], ids[0]],
        );
        assert.equal(third.next, undefined, 'no older page');
        assert.deepEqual(await page(store, cardId, 'H1', { limit: 0, kinds }), { entries: [] });
        assert.deepEqual(await page(store, cardId, 'NONE', { limit: 5, kinds }), { entries: [] });
        const all = await page(store, cardId, 'H1', { limit: 50, kinds: ['membership_number'] });
        assert.equal(all.entries.length, 5);
        assert.equal(all.next, undefined);
      });
    });

    describe('TopupOrderStore: createTopupOrder, getTopupOrder, updateTopupOrder, listDueTopupOrders', () => {
      /** Optional for a host's own object; every engine has it. */
      const topups = (s: Store): TopupOrderStore => {
        assert.ok(s.createTopupOrder && s.getTopupOrder && s.updateTopupOrder && s.listDueTopupOrders);
        return s as Store & TopupOrderStore;
      };
      let orderSeq = 0;
      const topup = (cardId: string, extra: Partial<TopupOrder> = {}): TopupOrder => {
        const now = Date.now() + ++orderSeq;
        return {
          cardId,
          outTradeNo: `T${uid()}${uid()}`.slice(0, 32),
          openid: 'mp-payer',
          code: 'C100',
          amount: 10000,
          bonus: 1000,
          appid: 'wxminiprogram0001',
          mchid: '1900000109',
          description: '会员卡充值 ¥100.00',
          expiresAt: Math.floor((now + 900_000) / 1000) * 1000,
          state: 'pending',
          creditAttempt: 0,
          nextCheckAt: now + 180_000,
          checks: 0,
          createdAt: now,
          updatedAt: now,
          version: 0,
          ...extra,
        };
      };

      it('creates an order, and reuses a pending one of the same user, code and amount since reuseSince', async () => {
        const cardId = card();
        const first = topup(cardId, { unionid: 'u-pay' });
        assert.deepEqual(await topups(store).createTopupOrder(first, first.createdAt - 60_000), {
          created: true,
          order: first,
        });
        assert.deepEqual(await topups(other).getTopupOrder(cardId, first.outTradeNo), first);
        const tap = topup(cardId);
        const again = await topups(other).createTopupOrder(tap, tap.createdAt - 60_000);
        assert.deepEqual(again, { created: false, order: first }, 'a second tap reuses the first order');
        assert.equal(await topups(store).getTopupOrder(cardId, tap.outTradeNo), undefined, 'nothing else stored');
        for (const [why, extra] of [
          ['another amount', { amount: 5000 }],
          ['another code', { code: 'C101' }],
          ['another user', { openid: 'mp-other' }],
        ] as const) {
          const o = topup(cardId, extra);
          assert.equal((await topups(store).createTopupOrder(o, o.createdAt - 60_000)).created, true, why);
        }
        const late = topup(cardId);
        const made = await topups(store).createTopupOrder(late, first.createdAt + 1);
        assert.equal(made.created, true, 'the pending order is older than reuseSince');
        assert.equal(await topups(store).getTopupOrder(card(), first.outTradeNo), undefined, 'another card');
      });

      it('updates by compare-and-set on the version, and reuses only pending orders', async () => {
        const cardId = card();
        const o = topup(cardId);
        await topups(store).createTopupOrder(o, 0);
        const paid: TopupOrder = {
          ...o,
          state: 'paid',
          transactionId: '4200000000202601010000000001',
          paidAt: o.createdAt + 5000,
          nextCheckAt: o.createdAt + 5000,
          error: { code: 'UPSTREAM_BUSY', message: 'WeChat Pay is busy.' },
          updatedAt: o.updatedAt + 1,
        };
        const stored = await topups(other).updateTopupOrder(paid);
        assert.deepEqual(stored, { ...paid, version: 1 });
        assert.deepEqual(await topups(store).getTopupOrder(cardId, o.outTradeNo), stored);
        assert.equal(await topups(store).updateTopupOrder({ ...paid, state: 'closed' }), undefined, 'stale version');
        assert.deepEqual(await topups(store).getTopupOrder(cardId, o.outTradeNo), stored, 'nothing changed');
        assert.equal(await topups(store).updateTopupOrder(topup(cardId)), undefined, 'no such order');
        const { error: _e, nextCheckAt: _n, ...credited } = { ...stored, state: 'credited' as const };
        const done = await topups(store).updateTopupOrder({ ...credited, balanceAfter: 12345 });
        assert.equal(done?.version, 2);
        assert.equal(done?.error, undefined, 'a field left out is gone');
        assert.equal(done?.nextCheckAt, undefined);
        const tap = topup(cardId);
        assert.equal((await topups(other).createTopupOrder(tap, 0)).created, true, 'a credited order is not reused');
      });

      it('lists due orders of one card, soonest first, up to the limit', async () => {
        const [cardId, otherCard] = [card(), card()];
        const now = Date.now();
        const orders = [
          topup(cardId, { nextCheckAt: now - 1000, openid: 'a' }),
          topup(cardId, { nextCheckAt: now - 3000, openid: 'b' }),
          topup(cardId, { nextCheckAt: now + 60_000, openid: 'c' }),
          topup(cardId, { nextCheckAt: undefined, state: 'credited', openid: 'd' }),
          topup(cardId, { nextCheckAt: now - 2000, openid: 'e' }),
          topup(otherCard, { nextCheckAt: now - 5000, openid: 'f' }),
        ];
        for (const o of orders) await topups(store).createTopupOrder(JSON.parse(JSON.stringify(o)), 0);
        const due = await topups(other).listDueTopupOrders(cardId, now, 10);
        assert.deepEqual(
          due.map((o) => o.openid),
          ['b', 'e', 'a'],
        );
        assert.deepEqual(
          (await topups(other).listDueTopupOrders(cardId, now, 2)).map((o) => o.openid),
          ['b', 'e'],
        );
        // Done: nextCheckAt removed, so it is no longer listed.
        const e = due[1] as TopupOrder;
        const { nextCheckAt: _n, ...done } = e;
        assert.ok(await topups(store).updateTopupOrder({ ...done, state: 'closed' }));
        assert.deepEqual(
          (await topups(other).listDueTopupOrders(cardId, now, 10)).map((o) => o.openid),
          ['b', 'a'],
        );
        // Later: moved into the future.
        assert.ok(await topups(store).updateTopupOrder({ ...(due[0] as TopupOrder), nextCheckAt: now + 1 }));
        assert.deepEqual(
          (await topups(other).listDueTopupOrders(cardId, now, 10)).map((o) => o.openid),
          ['a'],
        );
      });

      it('10 concurrent creates of one tap (across instances if shared) make one order', async () => {
        const cardId = card();
        const taps = Array.from({ length: 10 }, () => topup(cardId, { openid: 'mp-racer' }));
        const results = await Promise.all(
          taps.map((o, i) => topups(i % 2 ? other : store).createTopupOrder(o, Date.now() - 60_000)),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.equal(new Set(results.map((r) => r.order.outTradeNo)).size, 1, 'all answer the same order');
      });

      it('10 concurrent updates from one version (across instances if shared): one wins', async () => {
        const cardId = card();
        const o = topup(cardId);
        await topups(store).createTopupOrder(o, 0);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => topups(i % 2 ? other : store).updateTopupOrder({ ...o, checks: i + 1 })),
        );
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1);
        assert.deepEqual(await topups(store).getTopupOrder(cardId, o.outTradeNo), winners[0]);
      });

      if (engine.shared) {
        it('an order survives a restart (a fresh store on the same location)', async () => {
          const cardId = card();
          const o = topup(cardId);
          await topups(store).createTopupOrder(o, 0);
          const fresh = engine.open();
          await fresh.init();
          try {
            assert.deepEqual(await topups(fresh).getTopupOrder(cardId, o.outTradeNo), o);
            assert.deepEqual(
              (await topups(fresh).listDueTopupOrders(cardId, o.nextCheckAt as number, 5)).map((x) => x.outTradeNo),
              [o.outTradeNo],
            );
          } finally {
            await fresh.close();
          }
        });
      }
    });

    // Last: a retention pass deletes what outlived its retention everywhere on the shared location.
    retentionContract({ ...engine, ttls: engine.ttls ?? false }, () => ({ store, other }));
  });
}
