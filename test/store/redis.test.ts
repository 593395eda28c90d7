// The Redis key encoding (src/store/redis.ts encodeKeyPart) and its Lua twin `enc`
// (src/store/redis-scripts.ts): each id goes into a key percent-encoded, so a ':' inside an id
// cannot pass for a separator, and both sides must build byte-for-byte the same key.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { encodeKeyPart } from '../../src/store/redis.js';
import { PRELUDE } from '../../src/store/redis-scripts.js';
import { REDIS_URL, unavailable } from '../support/services.js';

const TRICKY = [
  'a:b',
  'b:c:1',
  '100%',
  '%3A',
  'with space',
  'tab\tand\nnewline',
  'é',
  '会员卡',
  '😀',
  'safe-._AZaz09',
  '',
  "~!*'()",
  'a/b?c=d&e#f',
  '\u0000',
  '\ud800', // a lone surrogate: UTF-8 encoding makes it U+FFFD on both sides
];
// Every ASCII character, one per input.
const ASCII = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i));

describe('encodeKeyPart', () => {
  it('percent-encodes every byte outside [A-Za-z0-9_.-], in upper-case hex', () => {
    assert.equal(encodeKeyPart('a:b'), 'a%3Ab');
    assert.equal(encodeKeyPart('100%'), '100%25');
    assert.equal(encodeKeyPart('with space'), 'with%20space');
    assert.equal(encodeKeyPart('é'), '%C3%A9');
    assert.equal(encodeKeyPart('会'), '%E4%BC%9A');
    assert.equal(encodeKeyPart('😀'), '%F0%9F%98%80');
    assert.equal(encodeKeyPart("~!*'()"), '%7E%21%2A%27%28%29', 'stricter than encodeURIComponent');
    assert.equal(encodeKeyPart('safe-._AZaz09'), 'safe-._AZaz09');
    assert.equal(encodeKeyPart(''), '');
    for (const c of ASCII) {
      const kept = /[A-Za-z0-9_.-]/.test(c);
      assert.equal(encodeKeyPart(c), kept ? c : `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
    }
  });

  it('never leaves a separator in, and two different ids never share an encoding', () => {
    const inputs = [...TRICKY, ...ASCII].filter((s) => s !== '\ud800');
    for (const s of inputs) {
      const encoded = encodeKeyPart(s);
      assert.match(encoded, /^[A-Za-z0-9_.%-]*$/, JSON.stringify(s));
      assert.equal(decodeURIComponent(encoded), s, 'decodes back to the id');
    }
    assert.equal(new Set(inputs.map(encodeKeyPart)).size, new Set(inputs).size);
    // The case a plain join would get wrong: card "a:b" + code "c" vs card "a" + code "b:c".
    assert.notEqual(`${encodeKeyPart('a:b')}:${encodeKeyPart('c')}`, `${encodeKeyPart('a')}:${encodeKeyPart('b:c')}`);
  });
});

const redisDown = await unavailable('redis', 'the Lua key encoding');

describe('the Lua `enc` of the store scripts', { skip: redisDown ?? false }, () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  after(() => redis.disconnect());
  const ENC_EACH = `${PRELUDE}
local out = {}
for i, v in ipairs(ARGV) do out[i] = enc(v) end
return out
`;

  it('encodes exactly as encodeKeyPart, evaluated by a real Redis', async () => {
    const inputs = [...TRICKY, ...ASCII];
    const fromLua = (await redis.eval(ENC_EACH, 0, ...inputs)) as string[];
    assert.equal(fromLua.length, inputs.length);
    for (const [i, input] of inputs.entries()) {
      assert.equal(fromLua[i], encodeKeyPart(input), `input ${JSON.stringify(input)}`);
    }
  });
});
