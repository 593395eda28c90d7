/**
 * The Lua scripts that make each Redis step atomic (Redis runs a script with nothing in between).
 * Each script touches the keys of one hash tag only (see redis-keys.ts), so it runs on Redis
 * Cluster as on a single node; a change that spans a card, a user and a notification is a series of
 * such steps, each idempotent, ordered so that a retry after a crash between two of them finishes
 * the same change (see redis-bindings.ts, redis-journal.ts).
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
 * One card code's part of applyNotification (redis-bindings.ts runs the steps around it).
 * KEYS: binding, this notification's marker. ARGV: record JSON, notification TTL ms, now, kind,
 * cardId, code, unionid, oaOpenid, owner openid ('' = no outer_str owner), owner unionid.
 * Returns {applied 1|0, outcome, userOpenid, unionid, updatedAt, record JSON}. outcome: 'consumed'
 * (the owner took the code), 'unionid_mismatch' or 'code_held' (the owner may not have it), or ''.
 * A marker already there means a duplicate: nothing changes and its outcome and record are
 * returned, so a retry after a crash finishes the same steps. The bind is bindWithOuterStr of
 * effect.ts.
 */
export const APPLY_TO_CARD = `${PRELUDE}
local function answer(applied, outcome)
  local b = redis.call('HMGET', KEYS[1], 'userOpenid', 'unionid', 'updatedAt')
  local rec = redis.call('HGET', KEYS[2], 'record')
  return {applied, outcome, b[1] or '', b[2] or '', b[3] or '', rec or ''}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return answer(0, redis.call('HGET', KEYS[2], 'outcome') or '') end
local now, kind, cardId, code = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local outcome = ''
if kind == 'bind' then
  local given, givenOa = nz(ARGV[7]), nz(ARGV[8])
  local cur = redis.call('HMGET', KEYS[1], 'status', 'userOpenid', 'unionid', 'oaOpenid', 'createdAt')
  local active = cur[1] == 'active'
  local curUser, curUnion, curOa = nz(cur[2]), nz(cur[3]), nz(cur[4])
  local ownerOpenid, ownerUnion = nz(ARGV[9]), nz(ARGV[10])
  if ownerOpenid then
    -- Held by another: as heldByAnother in effect.ts (and BIND_BY_MERCHANT below).
    local another
    if curUser then
      another = curUser ~= ownerOpenid or (curUnion ~= nil and ownerUnion ~= nil and curUnion ~= ownerUnion)
    else
      another = curUnion ~= nil and curUnion ~= ownerUnion
    end
    if given and ownerUnion and given ~= ownerUnion then
      outcome = 'unionid_mismatch'
    elseif active and another then
      outcome = 'code_held'
    else
      outcome = 'consumed'
    end
    if outcome ~= 'consumed' then ownerOpenid, ownerUnion = nil, nil end
  end
  -- An outer_str that takes a code nobody actively holds keeps nothing of its previous holder.
  if ownerOpenid and not active then curUser, curUnion, curOa = nil, nil, nil end
  local unionid = given or curUnion or ownerUnion
  local oaOpenid = givenOa or curOa
  local userOpenid = ownerOpenid or curUser
  redis.call('HSET', KEYS[1], 'cardId', cardId, 'code', code, 'status', 'active',
    'createdAt', nz(cur[5]) or now, 'updatedAt', now)
  if oaOpenid then redis.call('HSET', KEYS[1], 'oaOpenid', oaOpenid) else redis.call('HDEL', KEYS[1], 'oaOpenid') end
  if unionid then redis.call('HSET', KEYS[1], 'unionid', unionid) else redis.call('HDEL', KEYS[1], 'unionid') end
  if userOpenid then
    redis.call('HSET', KEYS[1], 'userOpenid', userOpenid)
  else
    redis.call('HDEL', KEYS[1], 'userOpenid')
  end
elseif kind == 'retire' then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], 'status', 'retired', 'updatedAt', now)
  end
end
redis.call('HSET', KEYS[2], 'outcome', outcome, 'record', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return answer(1, outcome)
`;

/*
 * An outer_str's record (P {o:<outerStr>}) is JSON {openid, unionid?, cardId?, expiresAt, takenBy?}.
 * takenBy names the notification that is binding with it right now: nobody else may use it until
 * that notification settles it (deleted once consumed, released when refused).
 */

/**
 * KEYS: outer_str. ARGV: notification id, cardId, now. Returns {'mine', openid, unionid} when this
 * notification may bind with it (now marked taken by it, or already), {'busy'} while another
 * notification holds it, {'none'} when there is no usable one.
 */
export const TAKE_OUTER_STR = `
local raw = redis.call('GET', KEYS[1])
if not raw then return {'none'} end
local o = cjson.decode(raw)
local function mine() return {'mine', o.openid or '', type(o.unionid) == 'string' and o.unionid or ''} end
if type(o.takenBy) == 'string' then
  if o.takenBy == ARGV[1] then return mine() end
  return {'busy'}
end
local forCard = type(o.cardId) ~= 'string' or o.cardId == ARGV[2]
if tonumber(o.expiresAt) <= tonumber(ARGV[3]) or not forCard or type(o.openid) ~= 'string' then return {'none'} end
o.takenBy = ARGV[1]
redis.call('SET', KEYS[1], cjson.encode(o), 'KEEPTTL')
return mine()
`;

/**
 * KEYS: outer_str. ARGV: notification id, '1' when it was consumed. Deletes it (consumed) or makes
 * it pending again (refused), when it is still taken by this notification. Idempotent.
 */
export const SETTLE_OUTER_STR = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local o = cjson.decode(raw)
if o.takenBy ~= ARGV[1] then return 0 end
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[1])
else
  o.takenBy = nil
  redis.call('SET', KEYS[1], cjson.encode(o), 'KEEPTTL')
end
return 1
`;

/**
 * KEYS: an index (u: or x:). ARGV: code, the score seen. Drops a stale entry unless it was written
 * again since it was seen (then its score moved).
 */
export const DROP_STALE_ENTRY = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return 0
`;

/**
 * A merchant's bind (MerchantBindingStore.bindByMerchant; the same rule as mergeMerchantBind).
 * KEYS: binding, audit list. ARGV: cardId, code, userOpenid, unionid, oaOpenid ('' = none),
 * now, audit line JSON without `before` (added here from the binding as it was).
 * Returns {outcome, field, value, …}: outcome 'bound', 'unchanged' or 'conflict', then the
 * binding's hash as stored afterwards. The indexes are written by redis.ts, around this step.
 */
export const BIND_BY_MERCHANT = `${PRELUDE}
local cardId, code, user, now = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local unionid, oaOpenid = nz(ARGV[4]), nz(ARGV[5])
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
if nextUnion then redis.call('HSET', KEYS[1], 'unionid', nextUnion) else redis.call('HDEL', KEYS[1], 'unionid') end
if nextOa then redis.call('HSET', KEYS[1], 'oaOpenid', nextOa) else redis.call('HDEL', KEYS[1], 'oaOpenid') end
local line = cjson.decode(ARGV[7])
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
 * Merchant operations (keys in redis-keys.ts): a lock is the holder's token with a PX lease (SET NX
 * PX takes it); a journal entry is a hash (body = immutable JSON, state, errorCode, errorMessage,
 * updatedAt) in its card code's slot, found from (cardId, requestId) through its index; the card's
 * pending set holds pending request ids scored by createdAt; the audit trail is a list of JSON,
 * newest first.
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
 * KEYS: op, lock (the op's key again when the lock sits in another slot: redis.ts then checked it
 * just before), pending set. ARGV: body JSON, token, requestId, createdAt, state, updatedAt,
 * errorCode, errorMessage, '1' to check the lock here. Returns 1 inserted, 0 exists (then read it),
 * 2 lock lost.
 */
export const INSERT_OPERATION = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[9] == '1' and redis.call('GET', KEYS[2]) ~= ARGV[2] then return 2 end
redis.call('HSET', KEYS[1], 'body', ARGV[1], 'state', ARGV[5], 'updatedAt', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'errorCode', ARGV[7], 'errorMessage', ARGV[8]) end
if ARGV[5] == 'pending' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
return 1
`;

/**
 * KEYS: a journal entry's index. ARGV: code, now, how old (ms) a claim must be before another code
 * may take it. The index names the code whose slot holds the entry (cardId, requestId). Returns
 * the code it names: this one (claimed now, or before), or another's.
 * A claim whose entry was never written (a crash between the two steps) passes to another code
 * only once it is older than the lock's lease could be: by then that entry can no longer be
 * written, since its fenced insert would find the lock gone.
 */
export const CLAIM_OPERATION = `
local cur = redis.call('HMGET', KEYS[1], 'code', 'at', 'written')
if cur[1] and (cur[1] == ARGV[1] or cur[3] == '1' or tonumber(cur[2]) > tonumber(ARGV[2]) - tonumber(ARGV[3])) then
  return cur[1]
end
redis.call('HSET', KEYS[1], 'code', ARGV[1], 'at', ARGV[2])
return ARGV[1]
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
 * Rate limits: one token bucket per key (hash: tokens, ts), expiring once it would be full again.
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
 * Member codes (issue 14): P {mc:<hash>} holds a live code (JSON entry, PX TTL); the card's
 * pointer (P {card…}mcc:…) names its newest code's hash, with the same TTL. Only the code the
 * pointer names is valid: a consume checks it, so a crash before the previous code is deleted
 * cannot leave two valid codes.
 */

/** KEYS: the card's pointer. ARGV: hash, ttl ms. Points it at this hash; returns the previous one (or nil). */
export const SWAP_MEMBER_CODE = `
local previous = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return previous
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
 * Top-up orders, all of one card id in one slot: tu:<cardId>:<outTradeNo> the order (hash: data =
 * the order as JSON, version, state, amount, code); tuu:<cardId>:<openid> the user's orders, scored
 * by createdAt (to reuse a pending one); tud:<cardId> the orders the reconciler must look at,
 * scored by nextCheckAt.
 * The data is written by JavaScript and never decoded here (cjson would round big integers).
 */

/**
 * KEYS: order, user index, due index. ARGV: order key prefix (same tag), reuseSince, amount,
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
 * GET /open's outer_str, one per user and card: P {user…}ou:<cardId>:<openid> names the outer_str
 * issued to this user for this card (PX TTL as the outer_str's). redis.ts issues in three steps:
 * renew the one named (RENEW_OUTER_STR), else store the candidate and name it (NAME_OUTER_STR),
 * which the first of several concurrent callers wins.
 */

/**
 * KEYS: the outer_str. ARGV: cardId, openid, unionid ('' = none), expiresAt, ttl ms. When it is
 * still pending (present, not being consumed), its expiry and unionid are renewed: returns 1; else 0.
 */
export const RENEW_OUTER_STR = `${PRELUDE}
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local cur = cjson.decode(raw)
if type(cur.takenBy) == 'string' then return 0 end
local o = { openid = ARGV[2], expiresAt = tonumber(ARGV[4]), cardId = ARGV[1] }
if nz(ARGV[3]) then o.unionid = ARGV[3] end
redis.call('SET', KEYS[1], cjson.encode(o), 'PX', ARGV[5])
return 1
`;

/**
 * KEYS: the user's pointer. ARGV: the value it held when read ('' = none), the new outer_str,
 * ttl ms. Names the new one when the pointer still holds what was read; returns the outer_str it
 * names afterwards (another caller's, when that caller came first).
 */
export const NAME_OUTER_STR = `
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ARGV[2]
`;
