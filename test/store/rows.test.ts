// The SQL engines' row ↔ object mapping (src/store/rows.ts), on its own: what SQLite and
// PostgreSQL hand back (NULLs, pg's BIGINT strings, JSON text) must come out as the same objects
// every engine returns, and what goes in must come back unchanged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AUDIT_COLUMNS,
  auditOf,
  auditParams,
  columnsAndValues,
  encodeValue,
  OPERATION_COLUMNS,
  operationParams,
  toAudit,
  toBinding,
  toNotification,
  toOperation,
  toSession,
  type AuditRow,
  type OperationRow,
} from '../../src/store/rows.js';
import type { Operation } from '../../src/store/types.js';

const T = 1_700_000_000_123;

/** A row as the driver returns it: the column list zipped with the parameters inserted. */
function rowOf<R>(columns: string, params: unknown[]): R {
  const names = columns.split(',').map((c) => c.trim());
  assert.equal(names.length, params.length, 'one parameter per column');
  return Object.fromEntries(names.map((name, i) => [name, params[i]])) as R;
}

/** The same row from PostgreSQL: its BIGINT columns arrive as strings. */
function fromPg<R extends object>(row: R, bigints: (keyof R)[]): R {
  const copy = { ...row };
  for (const column of bigints) if (copy[column] != null) copy[column] = String(copy[column]) as R[keyof R];
  return copy;
}

const operation = (extra: Partial<Operation> = {}): Operation => ({
  cardId: 'pCard1',
  requestId: 'till-1-0001',
  code: '123456789012',
  kind: 'balance',
  amount: -250,
  remark: '拿铁',
  actor: 'cashier-7',
  state: 'applied',
  outRequestNo: 'a'.repeat(32),
  before: 1000,
  after: 750,
  createdAt: T,
  updatedAt: T + 5,
  ...extra,
});

describe('bindings, notifications and sessions', () => {
  it('a binding with every field', () => {
    const row = {
      card_id: 'pCard1',
      code: '1',
      unionid: 'u1',
      oa_openid: 'oa1',
      user_openid: 'mp1',
      status: 'active',
      created_at: T,
      updated_at: T + 1,
    };
    assert.deepEqual(toBinding(row), {
      cardId: 'pCard1',
      code: '1',
      unionid: 'u1',
      oaOpenid: 'oa1',
      userOpenid: 'mp1',
      status: 'active',
      createdAt: T,
      updatedAt: T + 1,
    });
  });

  it('NULL columns are left out (not undefined), and BIGINT strings from pg become numbers', () => {
    const row = {
      card_id: 'pCard1',
      code: '1',
      unionid: null,
      oa_openid: null,
      user_openid: null,
      status: 'retired',
      created_at: String(T),
      updated_at: String(T + 1),
    };
    const binding = toBinding(row);
    assert.deepEqual(Object.keys(binding).sort(), ['cardId', 'code', 'createdAt', 'status', 'updatedAt']);
    assert.deepEqual(binding, { cardId: 'pCard1', code: '1', status: 'retired', createdAt: T, updatedAt: T + 1 });
  });

  it('a notification record, with and without its card', () => {
    assert.deepEqual(
      toNotification({ id: 'n1', event_type: 'MEMBERCARD.ACCEPT_CARD', card_id: 'c', code: '1', received_at: T }),
      { id: 'n1', eventType: 'MEMBERCARD.ACCEPT_CARD', cardId: 'c', code: '1', receivedAt: T },
    );
    const bare = toNotification({ id: 'n2', event_type: 'E', card_id: null, code: null, received_at: String(T) });
    assert.deepEqual(bare, { id: 'n2', eventType: 'E', receivedAt: T });
    assert.equal('cardId' in bare || 'code' in bare, false);
  });

  it('a session, with and without a unionid', () => {
    assert.deepEqual(toSession({ openid: 'mp', unionid: 'u', expires_at: T }), {
      openid: 'mp',
      unionid: 'u',
      expiresAt: T,
    });
    const bare = toSession({ openid: 'mp', unionid: null, expires_at: String(T) });
    assert.deepEqual(bare, { openid: 'mp', expiresAt: T });
    assert.equal('unionid' in bare, false);
  });
});

describe('before / after values: JSON text', () => {
  it('numbers and strings are told apart, and nothing is lost', () => {
    assert.equal(encodeValue(undefined), null);
    assert.equal(encodeValue(750), '750');
    assert.equal(encodeValue(-250), '-250');
    assert.equal(encodeValue('750'), '"750"', 'a string of digits stays a string');
    assert.equal(encodeValue('钻石会员'), '"钻石会员"');
    assert.equal(encodeValue(Number.MAX_SAFE_INTEGER), '9007199254740991');
  });

  const cases: [string, Partial<Operation>][] = [
    ['a balance change', {}],
    ['a points change from zero', { kind: 'points', amount: 5, before: 0, after: 5 }],
    ['a level set on a card without one', { kind: 'level', amount: undefined, value: '金卡', before: undefined }],
    [
      'a membership number of digits (a string, however big a number it looks)',
      {
        kind: 'membership_number',
        amount: undefined,
        value: '12345678901234567890',
        before: '0001',
        after: '12345678901234567890',
      },
    ],
    [
      'the largest exact integers',
      { amount: Number.MAX_SAFE_INTEGER, before: -Number.MAX_SAFE_INTEGER, after: Number.MAX_SAFE_INTEGER },
    ],
    ['a string with quotes and a newline', { kind: 'level', value: 'say "hi"\n', before: '"', after: 'say "hi"\n' }],
    ['no remark nor actor, pending', { remark: undefined, actor: undefined, state: 'pending' }],
    ['failed, with its reason', { state: 'failed', error: { code: 'INSUFFICIENT_BALANCE', message: 'too little' } }],
  ];

  for (const [what, extra] of cases) {
    it(`an operation round-trips through its row: ${what}`, () => {
      const op = JSON.parse(JSON.stringify(operation(extra))) as Operation; // undefined fields gone
      const row = rowOf<OperationRow>(OPERATION_COLUMNS, operationParams(op));
      assert.deepEqual(toOperation(row), op, 'SQLite');
      const pgRow = fromPg(row, ['amount', 'created_at', 'updated_at']);
      assert.deepEqual(toOperation(pgRow), op, 'PostgreSQL (BIGINT as strings)');
    });

    it(`its audit line round-trips too: ${what}`, () => {
      const op = JSON.parse(JSON.stringify(operation(extra))) as Operation;
      const row = rowOf<AuditRow>(AUDIT_COLUMNS, auditParams(op, T + 9));
      assert.deepEqual(toAudit(row), auditOf(op, T + 9), 'SQLite');
      assert.deepEqual(toAudit(fromPg(row, ['amount', 'at'])), auditOf(op, T + 9), 'PostgreSQL');
    });
  }

  it('an error code without a message reads as an empty message', () => {
    const row = rowOf<OperationRow>(OPERATION_COLUMNS, operationParams(operation({ state: 'failed' })));
    assert.deepEqual(toOperation({ ...row, error_code: 'UPSTREAM_ERROR', error_message: null }).error, {
      code: 'UPSTREAM_ERROR',
      message: '',
    });
  });
});

describe('audit entries', () => {
  it('auditOf keeps what the operation has, leaves out what it has not, and never copies its state', () => {
    assert.deepEqual(auditOf(operation(), T + 9), {
      cardId: 'pCard1',
      code: '123456789012',
      requestId: 'till-1-0001',
      kind: 'balance',
      actor: 'cashier-7',
      amount: -250,
      remark: '拿铁',
      before: 1000,
      after: 750,
      at: T + 9,
    });
    const level = auditOf(
      operation({
        kind: 'level',
        amount: undefined,
        value: 'VIP',
        remark: undefined,
        actor: undefined,
        before: undefined,
      }),
      T,
    );
    assert.deepEqual(level, {
      cardId: 'pCard1',
      code: '123456789012',
      requestId: 'till-1-0001',
      kind: 'level',
      value: 'VIP',
      after: 750,
      at: T,
    });
    assert.deepEqual(Object.keys(level).sort(), ['after', 'at', 'cardId', 'code', 'kind', 'requestId', 'value']);
  });
});

describe('columnsAndValues', () => {
  it('one placeholder per column, in SQLite and PostgreSQL style', () => {
    assert.equal(columnsAndValues('a, b, c', '?'), '(a, b, c) VALUES (?, ?, ?)');
    assert.equal(columnsAndValues('a, b, c', '$'), '(a, b, c) VALUES ($1, $2, $3)');
    const pg = columnsAndValues(OPERATION_COLUMNS, '$');
    assert.equal(pg.match(/\$\d+/g)?.length, operationParams(operation()).length);
    assert.ok(pg.endsWith(`$${operationParams(operation()).length})`));
    assert.equal(columnsAndValues(AUDIT_COLUMNS, '?').match(/\?/g)?.length, auditParams(operation(), T).length);
  });
});
