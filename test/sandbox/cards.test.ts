// The member-card endpoints' business rules: validation, consistency, idempotency, statuses.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestSandbox } from '../support/sandbox.js';
import { api, failure, handSigned, type Api } from './client.js';

let numbered = 0;
/** A documented body needs an out_request_no (update-member-code-info: 必填); a fresh one each time. */
const no = (body: object): object => ({ out_request_no: `t-${process.pid}-${++numbered}`, ...body });

describe('sandbox: member-card endpoints', () => {
  let sb: TestSandbox;
  let client: Api;
  const ids = (code: string): { card_id: string; code: string } => ({ card_id: sb.credentials.cardId, code });
  const patch = (code: string, body: object): Promise<unknown> =>
    client.patch('/cards/{card_id}/codes/{code}', body, ids(code));
  const rights = (code: string, body: object): Promise<unknown> =>
    client.patch('/cards/{card_id}/codes/{code}/rights', body, ids(code));

  before(async () => {
    sb = await TestSandbox.start();
    client = api(sb.credentials);
  });
  after(() => sb.close());

  describe('PATCH /cards/{card_id}/codes/{code} field checks', () => {
    let code: string;
    before(async () => {
      ({ code } = await sb.personWithCard({ balance: 100 }));
    });
    const bad: Array<[string, object, string]> = [
      ['an unknown field', { colour: 'red' }, 'colour'],
      ['a level over 5 characters', { level: '超级钻石会员' }, 'level'],
      ['a level of the wrong type', { level: 5 }, 'level'],
      ['a membership_number over 32', { membership_number: '1'.repeat(33) }, 'membership_number'],
      ['a membership_number with full-width characters', { membership_number: '会员１' }, 'membership_number'],
      ['a membership_number with a space', { membership_number: 'A 1' }, 'membership_number'],
      ['an http background', { background_picture_url: 'http://example.com/a.png' }, 'background_picture_url'],
      [
        'a background over 128',
        { background_picture_url: `https://example.com/${'a'.repeat(120)}.png` },
        'background_picture_url',
      ],
      ['an out_request_no with bad characters', { level: '金卡', out_request_no: 'a.b' }, 'out_request_no'],
      ['an out_request_no over 32', { level: '金卡', out_request_no: 'a'.repeat(33) }, 'out_request_no'],
      ['a non-boolean need_inform_level', { level: '金卡', need_inform_level: 'yes' }, 'need_inform_level'],
      [
        'a balance_information without balance',
        { balance_information: { before_balance: 100, add_balance: 1 } },
        'balance_information.balance',
      ],
      [
        'a fractional add_balance',
        { balance_information: { before_balance: 100, add_balance: 1.5, balance: 101 } },
        'balance_information.add_balance',
      ],
      [
        'a long balance_remark',
        {
          balance_information: { before_balance: 100, add_balance: 1, balance: 101, balance_remark: '字'.repeat(101) },
        },
        'balance_information.balance_remark',
      ],
      [
        'an unknown balance_information field',
        { balance_information: { before_balance: 100, add_balance: 1, balance: 101, x: 1 } },
        'balance_information.x',
      ],
      ['a balance_information that is not an object', { balance_information: 5 }, 'balance_information'],
      ['an empty out_request_no', { level: '金卡', out_request_no: '' }, 'out_request_no'],
    ];

    it('refuses a body without out_request_no (required by the docs): 400 PARAM_ERROR naming it', async () => {
      const err = await failure(patch(code, { level: '金卡' }));
      assert.equal(err.status, 400);
      const data = err.data as { code: string; detail?: { field: string } };
      assert.equal(data.code, 'PARAM_ERROR');
      assert.equal(data.detail?.field, 'out_request_no');
    });

    it('takes every documented field, need_inform_* included', async () => {
      const { code: other } = await sb.personWithCard({ balance: 100 });
      const res = await client.patch(
        '/cards/{card_id}/codes/{code}',
        {
          membership_number: 'M-1',
          background_picture_url: 'https://wxpaylogo.qpic.cn/x.png',
          level: '金卡',
          out_request_no: 'A|b_C*1-2',
          balance_information: { before_balance: 100, balance: 90, add_balance: -10, balance_remark: '咖啡' },
          need_inform_balance: false,
          need_inform_level: true,
        },
        ids(other),
      );
      assert.equal(res.status, 204);
      const stored = await sb.card(other);
      assert.deepEqual([stored.balance, stored.level, stored.membership_number], [90, '金卡', 'M-1']);
    });
    for (const [what, body, field] of bad) {
      it(`refuses ${what}: 400 PARAM_ERROR naming ${field}`, async () => {
        const err = await failure(patch(code, no(body)));
        assert.equal(err.status, 400);
        const data = err.data as { code: string; detail?: { field: string; location: string } };
        assert.equal(data.code, 'PARAM_ERROR');
        assert.equal(data.detail?.field, field);
        assert.equal(data.detail?.location, 'body');
      });
    }

    it('refuses a body with nothing to change', async () => {
      const err = await failure(patch(code, { out_request_no: 'nothing-1', need_inform_level: false }));
      assert.equal(err.status, 400);
      assert.equal((err.data as { code: string }).code, 'PARAM_ERROR');
    });

    it('refuses a body that is not JSON', async () => {
      const res = await handSigned(sb.credentials, {
        method: 'PATCH',
        target: `/v3/marketing/membercard-open/cards/${sb.credentials.cardId}/codes/${code}`,
        body: 'level=gold',
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'PARAM_ERROR');
    });

    it('changed nothing through all those refusals', async () => {
      const card = await sb.card(code);
      assert.equal(card.balance, 100);
      assert.equal(card.level, '普通会员');
    });
  });

  describe('balance and points', () => {
    it('applies a consistent balance change', async () => {
      const { code } = await sb.personWithCard({ balance: 1000 });
      await patch(code, {
        balance_information: {
          before_balance: 1000,
          add_balance: -300,
          balance: 700,
          balance_remark: '购买一杯珍珠奶茶，消耗3元',
        },
        out_request_no: 'bal-1',
      });
      assert.equal((await sb.card(code)).balance, 700);
    });

    const inconsistent: Array<[string, object, RegExp]> = [
      ['before + add ≠ after', { before_balance: 1000, add_balance: 100, balance: 1200 }, /does not equal balance/],
      ['before ≠ stored', { before_balance: 888, add_balance: 100, balance: 988 }, /stored balance/],
      ['a negative result', { before_balance: 1000, add_balance: -1001, balance: -1 }, /negative/],
    ];
    for (const [what, info, message] of inconsistent) {
      it(`refuses ${what}: 400 INVALID_REQUEST`, async () => {
        const { code } = await sb.personWithCard({ balance: 1000 });
        const err = await failure(patch(code, no({ balance_information: info })));
        assert.equal(err.status, 400);
        const data = err.data as { code: string; message: string };
        assert.equal(data.code, 'INVALID_REQUEST');
        assert.match(data.message, message);
        assert.equal((await sb.card(code)).balance, 1000);
      });
    }

    it('an out_request_no replay answers 204 and changes nothing twice', async () => {
      const { code } = await sb.personWithCard({ balance: 1000 });
      const body = {
        balance_information: { before_balance: 1000, add_balance: 50, balance: 1050 },
        out_request_no: 'topup-42',
      };
      await patch(code, body);
      const again = (await client.patch('/cards/{card_id}/codes/{code}', body, ids(code))).status;
      assert.equal(again, 204);
      const card = await sb.card(code);
      assert.equal(card.balance, 1050, 'added once, not twice');
      assert.deepEqual((card.applied as { card: string[] }).card, ['topup-42']);
    });

    it('points: consistent changes apply, replays are no-ops, bad ones are refused', async () => {
      const { code } = await sb.personWithCard({ bonus_value: 10 });
      // The first call once carried bonus_remark: the rights page documents no remark, so it went.
      await rights(code, { out_request_no: 'pts-1', before_bonus_value: 10, add_bonus_value: 5, bonus_value: 15 });
      await rights(code, { out_request_no: 'pts-1', before_bonus_value: 10, add_bonus_value: 5, bonus_value: 15 });
      assert.equal((await sb.card(code)).bonus_value, 15);
      const inconsistent = await failure(
        rights(code, { out_request_no: 'pts-2', before_bonus_value: 10, add_bonus_value: 5, bonus_value: 15 }),
      );
      assert.equal((inconsistent.data as { code: string }).code, 'INVALID_REQUEST');
      const missing = await failure(rights(code, { before_bonus_value: 15, add_bonus_value: 5, bonus_value: 20 }));
      assert.equal((missing.data as { detail: { field: string } }).detail.field, 'out_request_no');
      const typed = await failure(
        rights(code, { out_request_no: 'pts-3', before_bonus_value: '15', add_bonus_value: 5, bonus_value: 20 }),
      );
      assert.equal((typed.data as { detail: { field: string } }).detail.field, 'before_bonus_value');
    });

    it('points: an undocumented field (bonus_remark) is 400 PARAM_ERROR naming it; nothing changes', async () => {
      const { code } = await sb.personWithCard({ bonus_value: 10 });
      const body = { out_request_no: 'r-1', before_bonus_value: 10, add_bonus_value: 5, bonus_value: 15 };
      const err = await failure(rights(code, { ...body, bonus_remark: '消费积分' }));
      assert.equal(err.status, 400);
      const data = err.data as { code: string; detail: { field: string } };
      assert.equal(data.code, 'PARAM_ERROR');
      assert.equal(data.detail.field, 'bonus_remark');
      assert.equal((await sb.card(code)).bonus_value, 10);
    });

    it('points: takes every documented field (member_price_word, fapiao_jump_word, guide, …)', async () => {
      const { code } = await sb.personWithCard({ bonus_value: 10 });
      const res = await client.patch(
        '/cards/{card_id}/codes/{code}/rights',
        {
          out_request_no: `R|${'x'.repeat(100)}*_-`,
          before_bonus_value: 10,
          add_bonus_value: 90,
          bonus_value: 100,
          need_inform_bonus: false,
          member_price_word: '会员专享价八个字',
          fapiao_jump_word: '开发票六个',
          guide: {
            staff_name: '小王',
            head_image_url: 'https://wxpaylogo.qpic.cn/g.png',
            contact_information_name: '微信',
            contact_information_value: 'wx-guide',
            phone_number: '13800000000',
          },
        },
        ids(code),
      );
      assert.equal(res.status, 204);
      assert.equal((await sb.card(code)).bonus_value, 100);
      // Display words alone change no points.
      await rights(code, { out_request_no: 'words-only', member_price_word: '会员价' });
      assert.equal((await sb.card(code)).bonus_value, 100);
      const long = await failure(rights(code, { out_request_no: 'r-2', member_price_word: '九个字九个字九个字' }));
      assert.equal((long.data as { detail: { field: string } }).detail.field, 'member_price_word');
      const word = await failure(rights(code, { out_request_no: 'r-3', fapiao_jump_word: '七个字七个字七' }));
      assert.equal((word.data as { detail: { field: string } }).detail.field, 'fapiao_jump_word');
      const guide = await failure(rights(code, { out_request_no: 'r-4', guide: { nickname: 'x' } }));
      assert.equal((guide.data as { detail: { field: string } }).detail.field, 'guide.nickname');
      const over = await failure(rights(code, { out_request_no: 'r'.repeat(129) }));
      assert.equal((over.data as { detail: { field: string } }).detail.field, 'out_request_no');
    });
  });

  describe('card status', () => {
    for (const status of ['EXPIRE', 'UNAVAILABLE', 'NOT_ACTIVATE', 'DELETE']) {
      it(`a ${status} card refuses changes with 400 INVALID_REQUEST`, async () => {
        const { code } = await sb.personWithCard({ balance: 10, user_card_status: status });
        const err = await failure(patch(code, no({ level: '金卡' })));
        assert.equal(err.status, 400);
        assert.equal((err.data as { code: string }).code, 'INVALID_REQUEST');
        assert.match((err.data as { message: string }).message, new RegExp(status));
        const pts = await failure(
          rights(code, { out_request_no: 'p1', before_bonus_value: 0, add_bonus_value: 1, bonus_value: 1 }),
        );
        assert.equal((pts.data as { code: string }).code, 'INVALID_REQUEST');
      });
    }

    it('the control API can expire a card, after which it refuses', async () => {
      const { code } = await sb.personWithCard();
      const set = await sb.controlReply('PATCH', `cards/${sb.credentials.cardId}/codes/${code}`, {
        user_card_status: 'EXPIRE',
      });
      assert.equal(set.status, 200);
      const err = await failure(patch(code, no({ level: '金卡' })));
      assert.match((err.data as { message: string }).message, /EXPIRE/);
    });

    it('POST unavailable makes a card UNAVAILABLE, once', async () => {
      const { code } = await sb.personWithCard();
      const res = await client.post('/cards/{card_id}/codes/{code}/unavailable', { reason: '会员违规' }, ids(code));
      assert.equal(res.status, 204);
      assert.equal((await sb.card(code)).user_card_status, 'UNAVAILABLE');
      const again = await failure(
        client.post('/cards/{card_id}/codes/{code}/unavailable', { reason: '再来' }, ids(code)),
      );
      assert.equal((again.data as { code: string }).code, 'INVALID_REQUEST');
      const long = await sb.personWithCard();
      const tooLong = await failure(
        client.post('/cards/{card_id}/codes/{code}/unavailable', { reason: '字'.repeat(31) }, ids(long.code)),
      );
      assert.equal((tooLong.data as { detail: { field: string } }).detail.field, 'reason');
    });
  });

  describe('lookups and callback', () => {
    it('unknown card_id: 400 INVALID_REQUEST 会员卡ID无效 (documented); unknown code: 404; route: 404', async () => {
      // This test once expected 404 for an unknown card_id; the error table of every membercard-open
      // page lists 400 INVALID_REQUEST "会员卡ID无效" for it, and no 404 at all.
      const code = await failure(client.get('/cards/{card_id}/codes/{code}', ids('999999999999')));
      assert.equal(code.status, 404);
      assert.equal((code.data as { code: string }).code, 'RESOURCE_NOT_EXISTS');
      const card = await failure(client.get('/cards/{card_id}/codes/{code}', { card_id: 'pMCnope', code: '1' }));
      assert.equal(card.status, 400);
      assert.equal((card.data as { code: string }).code, 'INVALID_REQUEST');
      assert.match((card.data as { message: string }).message, /会员卡ID无效/);
      const route = await failure(client.get('/nothing-here'));
      assert.equal(route.status, 404);
      assert.equal((route.data as { code: string }).code, 'NOT_FOUND');
    });

    it('a code longer than 32 characters is 400 PARAM_ERROR naming code in the path', async () => {
      const err = await failure(client.get('/cards/{card_id}/codes/{code}', ids('1'.repeat(33))));
      assert.equal(err.status, 400);
      assert.deepEqual((err.data as { detail: { field: string; location: string } }).detail, {
        field: 'code',
        value: '1'.repeat(33),
        issue: 'must have 1 to 32 characters',
        location: 'path',
      });
    });

    it("GET /user/cards lists a person's cards by 服务号 openid; offset is a page number, limit ≤ 20", async () => {
      // This test once read offset as a record offset, with appid, offset and limit optional; the
      // list-user-card page says appid is optional, offset is "分页页码，页码从0开始" and both are required.
      const first = await sb.personWithCard();
      const second = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
        unionid: first.person.unionid,
      });
      const third = await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes`, {
        unionid: first.person.unionid,
      });
      const { appid, cardId } = sb.credentials;
      const openid = first.person.oa_openid;
      const page = await client.get('/user/cards', { params: { openid, appid, offset: 0, limit: 2 } });
      assert.deepEqual(page.data, {
        data: [
          { card_id: cardId, code: first.code },
          { card_id: cardId, code: second.body.code },
        ],
        total_count: 3,
        offset: 0,
        limit: 2,
      });
      const next = await client.get('/user/cards', { params: { openid, offset: 1, limit: 2 } });
      assert.deepEqual(next.data, {
        data: [{ card_id: cardId, code: third.body.code }],
        total_count: 3,
        offset: 1,
        limit: 2,
      });
      const mp = await client.get('/user/cards', { params: { openid: first.person.mp_openid, offset: 0, limit: 20 } });
      assert.equal(
        (mp.data as { total_count: number }).total_count,
        0,
        "the mini-program openid is not the card's openid",
      );
      const field = async (params: Record<string, unknown>): Promise<string> =>
        ((await failure(client.get('/user/cards', { params }))).data as { detail: { field: string } }).detail.field;
      assert.equal(await field({ openid, appid: sb.credentials.miniProgramAppid, offset: 0, limit: 1 }), 'appid');
      assert.equal(await field({ openid, offset: 0, limit: 21 }), 'limit');
      assert.equal(await field({ openid, offset: 0 }), 'limit');
      assert.equal(await field({ openid, limit: 1 }), 'offset');
      assert.equal(await field({ offset: 0, limit: 1 }), 'openid');
    });

    it('GET /user/cards leaves deleted cards out, or lists them with listDeleted', async () => {
      const holder = await sb.personWithCard();
      await sb.controlReply('POST', `cards/${sb.credentials.cardId}/codes/${holder.code}/events`, {
        event_type: 'USER_DELETE_MEMBERCARD',
      });
      const params = { openid: holder.person.oa_openid, offset: 0, limit: 20 };
      assert.equal(((await client.get('/user/cards', { params })).data as { total_count: number }).total_count, 0);
      await sb.controlReply('PUT', 'behaviour', { listDeleted: true });
      try {
        assert.equal(((await client.get('/user/cards', { params })).data as { total_count: number }).total_count, 1);
      } finally {
        await sb.controlReply('PUT', 'behaviour', {});
      }
    });

    it('PATCH /callback answers 200 {notify_url, mchid} as documented (204 by switch); GET /callback', async () => {
      // This test once expected 204: the PATCH's documented answer is the GET's, {notify_url, mchid}.
      const bad = await failure(client.patch('/callback', { notify_url: 'https://example.com/notify?x=1' }));
      assert.equal((bad.data as { detail: { field: string } }).detail.field, 'notify_url');
      const ftp = await failure(client.patch('/callback', { notify_url: 'ftp://example.com/notify' }));
      assert.equal((ftp.data as { detail: { field: string } }).detail.field, 'notify_url');
      const long = await failure(client.patch('/callback', { notify_url: `https://example.com/${'a'.repeat(240)}` }));
      assert.equal((long.data as { detail: { field: string } }).detail.field, 'notify_url');
      const set = await client.patch('/callback', { notify_url: 'http://127.0.0.1:9/notify' });
      assert.equal(set.status, 200);
      assert.deepEqual(set.data, { notify_url: 'http://127.0.0.1:9/notify', mchid: sb.credentials.mchid });
      const got = await client.get('/callback');
      assert.deepEqual(got.data, { notify_url: 'http://127.0.0.1:9/notify', mchid: sb.credentials.mchid });
      await sb.controlReply('PUT', 'behaviour', { callbackPatchAnswer: 204, allowHttpNotifyUrl: false });
      try {
        const http = await failure(client.patch('/callback', { notify_url: 'http://127.0.0.1:9/notify' }));
        assert.equal((http.data as { detail: { field: string } }).detail.field, 'notify_url');
        const quiet = await client.patch('/callback', { notify_url: 'https://127.0.0.1:9/notify' });
        assert.equal(quiet.status, 204);
        assert.equal(quiet.data, '');
      } finally {
        await sb.controlReply('PUT', 'behaviour', {});
      }
    });
  });
});
