/**
 * The Lua scripts that make each Redis step atomic (Redis runs a script with nothing in between).
 *
 * Key layout under the prefix P (each component percent-encoded by `enc`, identically in Lua and
 * in redis.ts, so ':' inside an id cannot collide):
 *   P n:<id>                 processed notification (JSON), expires after the notification TTL
 *   P b:<cardId>:<code>      binding (hash: cardId code unionid oaOpenid userOpenid status createdAt updatedAt)
 *   P u:<cardId>:<openid>    index: codes bound to this mini-program user, scored by updatedAt
 *   P x:<cardId>:<unionid>   index: codes bound to this unionid, scored by updatedAt
 *   P o:<outerStr>           pending outer_str (JSON {openid, unionid?, expiresAt}), PX TTL
 *   P s:<tokenHash>          login session (JSON), PX TTL
 *
 * Index keys are derived inside the scripts (the user comes from the consumed outer_str), so the
 * scripts need a single-shard Redis (standalone or Sentinel), not Redis Cluster.
 */

/** Helpers the scripts share; exported so a test can run `enc` against a real Redis. */
export const PRELUDE = `
local function enc(s)
  return (string.gsub(s, '[^%w_%.%-]', function(c) return string.format('%%%02X', string.byte(c)) end))
end
local function nz(v)
  if v == false or v == nil or v == '' then return nil end
  return v
end
`;

/**
 * KEYS: notification, binding, outer_str.
 * ARGV: prefix, record JSON, notification TTL ms, now, kind, cardId, code, unionid, oaOpenid, has outer_str ('1'/'0').
 * Returns {1, refusal} when applied, {0, ''} for a duplicate (and then changes nothing). The bind is
 * bindWithOuterStr of effect.ts: the refusal ('unionid_mismatch', 'code_held' or '') says why a
 * pending outer_str was left pending.
 */
export const APPLY_NOTIFICATION = `${PRELUDE}
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
local P, now, kind, cardId, code = ARGV[1], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local refused = ''
if kind == 'bind' then
  local given, givenOa = nz(ARGV[8]), nz(ARGV[9])
  local cur = redis.call('HMGET', KEYS[2], 'status', 'userOpenid', 'unionid', 'oaOpenid', 'createdAt')
  local active = cur[1] == 'active'
  local curUser, curUnion, curOa = nz(cur[2]), nz(cur[3]), nz(cur[4])
  local ownerOpenid, ownerUnion
  if ARGV[10] == '1' then
    local raw = redis.call('GET', KEYS[3])
    if raw then
      local o = cjson.decode(raw)
      local forCard = type(o.cardId) ~= 'string' or o.cardId == cardId
      if tonumber(o.expiresAt) > tonumber(now) and forCard then
        ownerOpenid = nz(o.openid)
        if type(o.unionid) == 'string' then ownerUnion = nz(o.unionid) end
      end
    end
  end
  if ownerOpenid then
    -- Held by another: as heldByAnother in effect.ts (and BIND_BY_MERCHANT below).
    local another
    if curUser then
      another = curUser ~= ownerOpenid or (curUnion ~= nil and ownerUnion ~= nil and curUnion ~= ownerUnion)
    else
      another = curUnion ~= nil and curUnion ~= ownerUnion
    end
    if given and ownerUnion and given ~= ownerUnion then
      refused = 'unionid_mismatch'
    elseif active and another then
      refused = 'code_held'
    end
    if refused == '' then redis.call('DEL', KEYS[3]) else ownerOpenid, ownerUnion = nil, nil end
  end
  -- An outer_str that takes a code nobody actively holds keeps nothing of its previous holder.
  if ownerOpenid and not active then curUser, curUnion, curOa = nil, nil, nil end
  local unionid = given or curUnion or ownerUnion
  local oaOpenid = givenOa or curOa
  local userOpenid = ownerOpenid or curUser
  redis.call('HSET', KEYS[2], 'cardId', cardId, 'code', code, 'status', 'active',
    'createdAt', nz(cur[5]) or now, 'updatedAt', now)
  if oaOpenid then redis.call('HSET', KEYS[2], 'oaOpenid', oaOpenid) else redis.call('HDEL', KEYS[2], 'oaOpenid') end
  if unionid then
    redis.call('HSET', KEYS[2], 'unionid', unionid)
    redis.call('ZADD', P .. 'x:' .. enc(cardId) .. ':' .. enc(unionid), now, code)
  else
    redis.call('HDEL', KEYS[2], 'unionid')
  end
  if userOpenid then
    redis.call('HSET', KEYS[2], 'userOpenid', userOpenid)
    redis.call('ZADD', P .. 'u:' .. enc(cardId) .. ':' .. enc(userOpenid), now, code)
  else
    redis.call('HDEL', KEYS[2], 'userOpenid')
  end
elseif kind == 'retire' then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'status', 'retired', 'updatedAt', now)
  end
end
return {1, refused}
`;

/**
 * KEYS: an index (u: or x:). ARGV: prefix, encoded cardId, hash field the index is on, its value.
 * Returns the newest active binding's hash (flat field/value list) or nil. Entries whose binding
 * no longer carries this user/unionid are stale and dropped on the way.
 */
export const FIND_LATEST_ACTIVE = `${PRELUDE}
local codes = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, code in ipairs(codes) do
  local key = ARGV[1] .. 'b:' .. ARGV[2] .. ':' .. enc(code)
  local v = redis.call('HMGET', key, ARGV[3], 'status')
  if v[1] ~= ARGV[4] then
    redis.call('ZREM', KEYS[1], code)
  elseif v[2] == 'active' then
    return redis.call('HGETALL', key)
  end
end
return false
`;

/**
 * A merchant's bind (MerchantBindingStore.bindByMerchant; the same rule as mergeMerchantBind).
 * KEYS: binding, audit list. ARGV: prefix, cardId, code, userOpenid, unionid, oaOpenid ('' = none),
 * now, audit line JSON without `before` (added here from the binding as it was).
 * Returns {outcome, field, value, …}: outcome 'bound', 'unchanged' or 'conflict', then the
 * binding's hash as stored afterwards.
 */
export const BIND_BY_MERCHANT = `${PRELUDE}
local P, cardId, code, user, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[7]
local unionid, oaOpenid = nz(ARGV[5]), nz(ARGV[6])
local cur = redis.call('HMGET', KEYS[1], 'status', 'userOpenid', 'unionid', 'oaOpenid', 'createdAt')
local active = cur[1] == 'active'
local curUser, curUnion, curOa = nz(cur[2]), nz(cur[3]), nz(cur[4])
local function answer(outcome)
  local out = { outcome }
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do table.insert(out, v) end
  return out
end
local another
if curUser then
  another = curUser ~= user or (curUnion ~= nil and unionid ~= nil and curUnion ~= unionid)
else
  another = curUnion ~= nil and curUnion ~= unionid
end
if active and another then return answer('conflict') end
-- Only an active binding lends what the bind leaves out (see mergeMerchantBind).
local nextUnion, nextOa = unionid, oaOpenid
if active then
  nextUnion, nextOa = unionid or curUnion, oaOpenid or curOa
end
if active and curUser == user and nextUnion == curUnion and nextOa == curOa then return answer('unchanged') end
redis.call('HSET', KEYS[1], 'cardId', cardId, 'code', code, 'status', 'active', 'userOpenid', user,
  'createdAt', nz(cur[5]) or now, 'updatedAt', now)
redis.call('ZADD', P .. 'u:' .. enc(cardId) .. ':' .. enc(user), now, code)
if nextUnion then
  redis.call('HSET', KEYS[1], 'unionid', nextUnion)
  redis.call('ZADD', P .. 'x:' .. enc(cardId) .. ':' .. enc(nextUnion), now, code)
else
  redis.call('HDEL', KEYS[1], 'unionid')
end
if nextOa then redis.call('HSET', KEYS[1], 'oaOpenid', nextOa) else redis.call('HDEL', KEYS[1], 'oaOpenid') end
local line = cjson.decode(ARGV[8])
if curUser then line.before = curUser end
redis.call('LPUSH', KEYS[2], cjson.encode(line))
return answer('bound')
`;

/** KEYS: binding. ARGV: status, now. Changes an existing binding's status; never creates one. */
export const SET_STATUS = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updatedAt', ARGV[2])
end
return 1
`;

/*
 * Merchant operations. Further keys under P:
 *   P l:<name>                   lock: the holder's token, with a PX lease (SET NX PX takes it)
 *   P op:<cardId>:<requestId>    journal entry (hash: body = immutable JSON, state, errorCode, errorMessage, updatedAt)
 *   P opp:<cardId>:<code>        the card's pending request ids, scored by createdAt
 *   P a:<cardId>:<code>          audit trail (list of JSON, newest first)
 * The body is written once by JavaScript and never decoded here: Lua's cjson would round big
 * integers to 14 digits.
 */

/** KEYS: lock. ARGV: token, ttl ms. 1 when the token held it and the lease was extended. */
export const EXTEND_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** KEYS: lock. ARGV: token. 1 when the token held it and it was deleted. */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/**
 * KEYS: op, lock, pending set. ARGV: body JSON, token, requestId, createdAt, state, updatedAt, errorCode, errorMessage.
 * Returns {1} inserted, {0} exists (then read it), {2} lock lost.
 */
export const INSERT_OPERATION = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end
redis.call('HSET', KEYS[1], 'body', ARGV[1], 'state', ARGV[5], 'updatedAt', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'errorCode', ARGV[7], 'errorMessage', ARGV[8]) end
if ARGV[5] == 'pending' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
return 1
`;

/**
 * KEYS: op, pending set, audit list. ARGV: state, errorCode, errorMessage, now, requestId, audit JSON.
 * Returns 1 when the entry was pending and is now finished, 0 otherwise (nothing changed).
 */
export const FINISH_OPERATION = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[4])
if ARGV[1] == 'failed' then
  redis.call('HSET', KEYS[1], 'errorCode', ARGV[2], 'errorMessage', ARGV[3])
else
  redis.call('LPUSH', KEYS[3], ARGV[6])
end
redis.call('ZREM', KEYS[2], ARGV[5])
return 1
`;

/*
 * Rate limits. Further key under P:
 *   P rl:<key>   token bucket (hash: tokens, ts), expiring once it would be full again
 */

/**
 * KEYS: bucket. ARGV: capacity, refill per second, cost. The token bucket of token-bucket.ts,
 * measured by Redis's own clock so every instance agrees. Returns {allowed 1|0, tokens left as text
 * (Redis would cut a Lua number to an integer), ms until the cost is there again}.
 */
export const TAKE_TOKENS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local capacity, rate, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cur = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = capacity
if cur[1] then
  tokens = math.min(capacity, tonumber(cur[1]) + math.max(0, now - tonumber(cur[2])) * rate / 1000)
end
local allowed, retry = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) * 1000 / rate) + 1000)
return {allowed, tostring(tokens), retry}
`;

/*
 * Member codes (issue 14). Further keys under P:
 *   P mc:<hash>                  a live member code (JSON entry), PX TTL
 *   P mcc:<cardId>:<code>        the hash of the card's newest member code, same TTL
 */

/**
 * KEYS: member code, the card's pointer. ARGV: entry JSON, ttl ms, prefix of member-code keys
 * (P mc:), encoded hash. Drops the card's previous code in the same step: only the newest is valid.
 */
export const PUT_MEMBER_CODE = `
local previous = redis.call('GET', KEYS[2])
if previous and previous ~= ARGV[4] then redis.call('DEL', ARGV[3] .. previous) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[2])
return 1
`;

/** KEYS: member code. Returns its entry JSON and deletes it (so one caller only gets it), or nil. */
export const CONSUME_MEMBER_CODE = `
local entry = redis.call('GET', KEYS[1])
if entry then redis.call('DEL', KEYS[1]) end
return entry
`;

/**
 * A page of the audit list (LPUSHed, so newest first, never trimmed). A line's position counts
 * from the oldest (0), which appending does not move. KEYS: audit list. ARGV: before (-1: from the
 * newest), limit, kinds as ',balance,points,' (commas around each). Returns {next (-1: none),
 * line…}. Lines are returned as stored: only `kind` is read here (cjson would round big integers).
 */
export const AUDIT_PAGE = `
local len = redis.call('LLEN', KEYS[1])
local before, limit, kinds = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if before < 0 or before > len then before = len end
local out, last = { -1 }, -1
if limit <= 0 then return out end
local pos = before - 1
while pos >= 0 do
  -- positions pos-99 .. pos are head indexes len-1-pos .. len-1-pos+99
  local chunk = redis.call('LRANGE', KEYS[1], len - 1 - pos, len - 1 - pos + 99)
  for _, line in ipairs(chunk) do
    if string.find(kinds, ',' .. cjson.decode(line).kind .. ',', 1, true) then
      if #out - 1 == limit then
        out[1] = last
        return out
      end
      table.insert(out, line)
      last = pos
    end
    pos = pos - 1
  end
  if #chunk == 0 then break end
end
return out
`;

/*
 * Top-up orders. Further keys under P:
 *   P tu:<cardId>:<outTradeNo>   order (hash: data = the order as JSON, version, state, amount, code)
 *   P tuu:<cardId>:<openid>      index: the user's orders, scored by createdAt (to reuse a pending one)
 *   P tud:<cardId>               index: orders the reconciler must look at, scored by nextCheckAt
 * The data is written by JavaScript and never decoded here (cjson would round big integers).
 */

/**
 * KEYS: order, user index, due index. ARGV: order key prefix (P tu:<cardId>:), reuseSince, amount,
 * code, data, version, createdAt, outTradeNo, nextCheckAt ('' = none), state.
 * Returns {0, data, version} for a pending order to reuse, or {1} once the new one is stored.
 */
export const CREATE_TOPUP = `${PRELUDE}
for _, m in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', ARGV[2])) do
  local v = redis.call('HMGET', ARGV[1] .. enc(m), 'state', 'amount', 'code', 'data', 'version')
  if v[1] == 'pending' and v[2] == ARGV[3] and v[3] == ARGV[4] then return { 0, v[4], v[5] } end
end
redis.call('HSET', KEYS[1], 'data', ARGV[5], 'version', ARGV[6], 'state', ARGV[10], 'amount', ARGV[3], 'code', ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[8])
if ARGV[9] ~= '' then redis.call('ZADD', KEYS[3], ARGV[9], ARGV[8]) end
return { 1 }
`;

/**
 * KEYS: order, due index. ARGV: expected version, data, new version, state, nextCheckAt ('' = none), outTradeNo.
 * Returns 1 when the order held the expected version and was replaced, 0 otherwise (nothing changed).
 */
export const UPDATE_TOPUP = `
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'version', ARGV[3], 'state', ARGV[4])
if ARGV[5] == '' then redis.call('ZREM', KEYS[2], ARGV[6]) else redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6]) end
return 1
`;

/*
 * GET /open's outer_str, one per user and card. Further key under P:
 *   P ou:<cardId>:<openid>   the outer_str issued to this user for this card, PX TTL as the outer_str's
 */

/**
 * KEYS: the user's index key, the candidate's outer_str key. ARGV: prefix, cardId, openid, unionid
 * ('' = none), candidate, expiresAt, ttl ms. The user's pending outer_str for this card gets the new
 * expiry (and unionid), else the candidate is stored for them. Returns the outer_str to hand out.
 */
export const ISSUE_OUTER_STR = `${PRELUDE}
local P, cardId, openid, unionid, candidate, expiresAt, ttl =
  ARGV[1], ARGV[2], ARGV[3], nz(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7]
local outerStr, key = candidate, KEYS[2]
local current = redis.call('GET', KEYS[1])
if current and redis.call('EXISTS', P .. 'o:' .. enc(current)) == 1 then
  outerStr, key = current, P .. 'o:' .. enc(current)
end
local o = { openid = openid, expiresAt = expiresAt, cardId = cardId }
if unionid then o.unionid = unionid end
redis.call('SET', key, cjson.encode(o), 'PX', ttl)
redis.call('SET', KEYS[1], outerStr, 'PX', ttl)
return outerStr
`;
