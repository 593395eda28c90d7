// Unit tests of how an upstream failure becomes what our client sees: pure mapping, no servers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeFailure, isTransient, toClientError } from '../../src/wechatpay/upstream-errors.js';

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
