// Unit tests of how an upstream failure becomes what our client sees: pure mapping, no servers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ownedBy } from '../../src/identity.js';
import {
  describeFailure,
  isSignatureFailure,
  isTransient,
  toClientError,
} from '../../src/wechatpay/upstream-errors.js';

describe('describeFailure: the few facts we keep from an axios / plugin error', () => {
  test('an answer with a WeChat Pay error body gives its code, status and Request-ID, never the body', () => {
    const failure = describeFailure({
      code: 'ERR_BAD_REQUEST',
      response: {
        status: 400,
        data: { code: 'PARAM_ERROR', message: 'openid oXXXX is invalid' },
        headers: { 'request-id': 'req-1' },
      },
    });
    assert.deepEqual(failure, { code: 'PARAM_ERROR', status: 400, requestId: 'req-1' });
    assert.doesNotMatch(JSON.stringify(failure), /oXXXX/);
  });

  test('an answer without a code gives HTTP_<status>', () => {
    assert.deepEqual(describeFailure({ response: { status: 502, data: '<html>' } }), { code: 'HTTP_502', status: 502 });
  });

  test('no answer at all: the transport code', () => {
    assert.deepEqual(describeFailure({ code: 'ECONNRESET' }), { code: 'ECONNRESET' });
    assert.deepEqual(describeFailure(undefined), { code: 'UNKNOWN' });
  });

  test("a response that failed the plugin's signature check keeps the verification code", () => {
    const failure = describeFailure({
      code: 'EV3_RES_HEADER_SIGNATURE_DIGEST',
      response: { status: 200, data: { card_id: 'x' } },
    });
    assert.deepEqual(failure, { code: 'EV3_RES_HEADER_SIGNATURE_DIGEST', status: 200 });
  });
});

describe('isTransient: worth one more try of a repeatable call', () => {
  for (const code of ['ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'ECONNREFUSED', 'EAI_AGAIN']) {
    test(`${code} is transient`, () => assert.equal(isTransient({ code }), true));
  }
  test('5xx is transient; 4xx and 429 are not', () => {
    assert.equal(isTransient({ code: 'SYSTEM_ERROR', status: 500 }), true);
    assert.equal(isTransient({ code: 'HTTP_503', status: 503 }), true);
    assert.equal(isTransient({ code: 'PARAM_ERROR', status: 400 }), false);
    assert.equal(isTransient({ code: 'FREQUENCY_LIMITED', status: 429 }), false);
  });
});

describe('toClientError: our stable codes', () => {
  const cases: Array<[string, Parameters<typeof toClientError>[0], string, number]> = [
    ['a timeout', { code: 'ECONNABORTED' }, 'UPSTREAM_TIMEOUT', 504],
    ['an unverifiable answer', { code: 'EV3_RES_HEADER_PLATFORM_SERIAL', status: 200 }, 'UPSTREAM_ERROR', 502],
    ['no answer', { code: 'ECONNREFUSED' }, 'UPSTREAM_ERROR', 502],
    ['429', { code: 'FREQUENCY_LIMITED', status: 429 }, 'RATE_LIMITED', 429],
    ['404', { code: 'RESOURCE_NOT_EXISTS', status: 404 }, 'CARD_NOT_FOUND', 404],
    ['5xx', { code: 'SYSTEM_ERROR', status: 500 }, 'UPSTREAM_BUSY', 503],
    ['400 PARAM_ERROR', { code: 'PARAM_ERROR', status: 400 }, 'INVALID_REQUEST', 400],
    ['401 (our credentials)', { code: 'SIGN_ERROR', status: 401 }, 'UPSTREAM_ERROR', 502],
    ['403', { code: 'NO_AUTH', status: 403 }, 'UPSTREAM_ERROR', 502],
  ];
  for (const [what, failure, code, status] of cases) {
    test(`${what} → ${status} ${code}`, () => {
      const err = toClientError(failure);
      assert.equal(err.code, code);
      assert.equal(err.status, status);
    });
  }

  test('Retry-After on the answers worth retrying later', () => {
    assert.equal(toClientError({ code: 'X', status: 429 }).retryAfter, 1);
    assert.equal(toClientError({ code: 'X', status: 500 }).retryAfter, 2);
    assert.equal(toClientError({ code: 'X', status: 400 }).retryAfter, undefined);
  });
});

describe('a 400 that names the code or the card_id (read from the body, never kept)', () => {
  const of = (data: unknown) => describeFailure({ code: 'ERR_BAD_REQUEST', response: { status: 400, data } });
  test('the card_id: 会员卡ID无效, or detail.field card_id', () => {
    assert.deepEqual(of({ code: 'INVALID_REQUEST', message: '会员卡ID无效' }), {
      code: 'INVALID_REQUEST',
      status: 400,
      names: 'card_id',
    });
    assert.equal(of({ code: 'PARAM_ERROR', message: 'x', detail: { field: 'card_id' } }).names, 'card_id');
  });
  test('the code: the word code, 卡号, or detail.field code; not out_request_no, not codes', () => {
    assert.equal(of({ code: 'INVALID_REQUEST', message: '会员卡code无效' }).names, 'code');
    assert.equal(of({ code: 'INVALID_REQUEST', message: 'code 1234 not found' }).names, 'code');
    assert.equal(of({ code: 'INVALID_REQUEST', message: '卡号不存在' }).names, 'code');
    assert.equal(of({ code: 'PARAM_ERROR', message: 'x', detail: { field: 'code' } }).names, 'code');
    assert.equal(of({ code: 'INVALID_REQUEST', message: 'out_request_no 已使用' }).names, undefined);
    assert.equal(of({ code: 'INVALID_REQUEST', message: 'too many codes' }).names, undefined);
  });
  test('on a card call, a 400 naming the code is CARD_NOT_FOUND; elsewhere it stays INVALID_REQUEST', () => {
    const failure = of({ code: 'INVALID_REQUEST', message: '会员卡code无效' });
    assert.equal(toClientError(failure, undefined, true).code, 'CARD_NOT_FOUND');
    assert.equal(toClientError(failure).code, 'INVALID_REQUEST');
    assert.equal(toClientError(of({ code: 'INVALID_REQUEST', message: '会员卡ID无效' })).code, 'UPSTREAM_ERROR');
  });
  test('signature failures are the three verification codes, not the clock', () => {
    for (const code of [
      'EV3_RES_HEADERS_INCOMPLATE',
      'EV3_RES_HEADER_PLATFORM_SERIAL',
      'EV3_RES_HEADER_SIGNATURE_DIGEST',
    ])
      assert.equal(isSignatureFailure({ code, status: 200 }), true);
    assert.equal(isSignatureFailure({ code: 'EV3_RES_HEADER_TIMESTAMP_OFFSET', status: 200 }), false);
  });
});

describe("ownedBy: only a present value that differs shows a card is someone else's", () => {
  test('absent openid or card_id: owned; differing: not', () => {
    assert.equal(ownedBy({}, 'pMC1', 'o-1'), true);
    assert.equal(ownedBy({ card_id: 'pMC1' }, 'pMC1', 'o-1'), true);
    assert.equal(ownedBy({ openid: 'o-1' }, 'pMC1', 'o-1'), true);
    assert.equal(ownedBy({ openid: 'o-2' }, 'pMC1', undefined), true, 'no expected openid');
    assert.equal(ownedBy({ openid: 'o-2' }, 'pMC1', 'o-1'), false);
    assert.equal(ownedBy({ card_id: 'pMC2', openid: 'o-1' }, 'pMC1', 'o-1'), false);
  });
});
