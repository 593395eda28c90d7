// What our client sends is exactly what the documentation defines: the fields of PATCH
// codes/{code} (update-member-code-info) and PATCH …/rights (set-user-card-rights), with
// out_request_no as each page requires it. Read from the sandbox's request log, as sent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BACKGROUNDS, startHarness, type Harness } from '../support/harness.js';

const CARD_FIELDS = [
  'membership_number',
  'background_picture_url',
  'level',
  'out_request_no',
  'balance_information',
  'need_inform_balance',
  'need_inform_level',
];
const BALANCE_FIELDS = ['before_balance', 'balance', 'add_balance', 'balance_remark'];
const RIGHTS_FIELDS = [
  'out_request_no',
  'before_bonus_value',
  'bonus_value',
  'add_bonus_value',
  'need_inform_bonus',
  'member_price_word',
  'fapiao_jump_word',
  'guide',
];
/** "可包含英文字母,数字,|,_,*,-": string(32) on codes/{code}, string(128) on …/rights. */
const OUT_REQUEST_NO = /^[A-Za-z0-9|_*-]+$/;

interface Logged {
  method: string;
  path: string;
  body?: Record<string, unknown>;
}

describe('conformance: request bodies hold the documented fields only', () => {
  let h: Harness;
  let code: string;
  let token: string;
  before(async () => {
    h = await startHarness();
    const user = await h.sandbox.newUser();
    ({ code } = await h.giveCard(user, { balance: 1000, bonus_value: 50 }));
    token = await h.login(user);
  });
  after(() => h.close());

  /** The PATCHes to a card (PATCH /callback, at start, has its own test). */
  const patches = async (): Promise<Logged[]> =>
    ((await h.sandbox.control('GET', 'requests')) as { data: Logged[] }).data.filter(
      (r) => r.method === 'PATCH' && r.path.includes('/codes/'),
    );

  it('points: no bonus_remark is sent; the remark stays in our journal and audit trail', async () => {
    const op = await h.cards.operations.adjustPoints({ code, amount: 25, remark: '消费积分', requestId: 'pts-remark' });
    assert.deepEqual([op.state, op.before, op.after, op.remark], ['applied', 50, 75, '消费积分']);
    const sent = (await patches()).filter((r) => r.path.endsWith('/rights'));
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]?.body, {
      out_request_no: op.outRequestNo,
      before_bonus_value: 50,
      bonus_value: 75,
      add_bonus_value: 25,
    });
    const [line] = await h.cards.operations.history({ code, limit: 1 });
    assert.equal(line?.remark, '消费积分');
  });

  it('every PATCH we send (balance, level, membership number, self-service edit) is documented', async () => {
    await h.cards.operations.adjustBalance({ code, amount: -100, remark: '拿铁', requestId: 'b-1' });
    await h.cards.operations.setLevel({ code, level: '金卡会员', requestId: 'l-1' });
    await h.cards.operations.setMembershipNumber({ code, membershipNumber: 'VIP-7', requestId: 'm-1' });
    const edit = await h.api('PUT', '/member-card', { token, body: { background_picture_url: BACKGROUNDS[0] } });
    assert.equal(edit.status, 200, edit.text);
    const sent = await patches();
    assert.ok(sent.length >= 5);
    for (const r of sent) {
      const body = r.body ?? {};
      const rights = r.path.endsWith('/rights');
      for (const key of Object.keys(body)) assert.ok((rights ? RIGHTS_FIELDS : CARD_FIELDS).includes(key), key);
      const number = String(body.out_request_no);
      assert.match(number, OUT_REQUEST_NO);
      assert.ok(number.length <= (rights ? 128 : 32), number);
      const info = body.balance_information as Record<string, unknown> | undefined;
      if (info) for (const key of Object.keys(info)) assert.ok(BALANCE_FIELDS.includes(key), key);
    }
    const balance = sent.find((r) => r.body?.balance_information);
    assert.deepEqual(balance?.body?.balance_information, {
      before_balance: 1000,
      balance: 900,
      add_balance: -100,
      balance_remark: '拿铁',
    });
    const numbers = sent.map((r) => r.body?.out_request_no);
    assert.equal(new Set(numbers).size, numbers.length, 'one out_request_no per change');
  });
});
