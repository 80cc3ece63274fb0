package store

import "github.com/redis/go-redis/v9"

// The Lua scripts below are every state change of the Redis store. Each runs atomically; each
// reads and checks everything before its first write, and the "#!lua" shebang (Redis ≥ 7) makes
// Redis refuse it up front when out of memory, so a failed call leaves nothing half-written.
//
// Times are milliseconds since the epoch. Lease deadlines are set and checked against the Redis
// server's clock (TIME), so that processors and gateways on hosts whose clocks disagree agree on
// when a lease runs out; the other timestamps (accepted, finished, event times) come from Go. Fit records are JSON objects whose
// values are all strings (cjson would print large numbers in exponent form):
// {"gen","job","st","acc","lease","exp","ql","fin","err","owner"}: lease is the holder's lease,
// exp the fit's expiry, ql its queue lease in ms (records written before exp and ql existed
// expire at their lease).

// luaPrelude holds the helpers shared by the scripts.
const luaPrelude = `#!lua
-- emit appends an event to the stream and publishes it, with its ID, on the live channel.
local function emit(stream, maxlen, channel, typ, model, gen, job, ts, data)
  local id = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
    'type', typ, 'model', model, 'gen', gen, 'job', job, 'ts', ts, 'data', data)
  redis.call('PUBLISH', channel, cjson.encode({id = id, type = typ, model = model,
    gen = tostring(gen), job = job, ts = tostring(ts), data = data}))
  return id
end

-- prune drops terminal fits older than the newest history generations.
local function prune(fits, pending, seq, history)
  local cutoff = seq - history
  if cutoff < 1 then return end
  for _, g in ipairs(redis.call('HKEYS', fits)) do
    if tonumber(g) <= cutoff and not redis.call('ZSCORE', pending, g) then
      redis.call('HDEL', fits, g)
    end
  end
end

-- fail ends pending fit f with status and reason and emits fit_failed.
local function fail(fits, pending, stream, maxlen, channel, model, g, f, status, now, reason)
  f.st = status
  f.fin = now
  f.err = reason
  redis.call('HSET', fits, g, cjson.encode(f))
  redis.call('ZREM', pending, g)
  local data = '{"error":' .. cjson.encode(reason) .. ',"status":' .. cjson.encode(status) .. '}'
  emit(stream, maxlen, channel, 'fit_failed', model, g, f.job, now, data)
end

-- expiry is when pending fit f expires: a queue lease after it was accepted or last held.
local function expiry(f)
  return tonumber(f.exp or f.lease)
end

-- queueLease of f in ms. A record written before fits kept theirs was leased for its queue
-- lease from acceptance until a processor first renewed it.
local function queueLease(f)
  if f.ql then return tonumber(f.ql) end
  if f.owner and f.owner ~= '' then return 0 end
  return math.max(tonumber(f.lease) - tonumber(f.acc), 0)
end

-- servernow is the Redis server's clock in milliseconds: the one clock every lease is read by.
local function servernow()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function seqOf(key)
  return tonumber(redis.call('GET', key) or '0')
end
`

// acceptScript: KEYS seq, fits, pending, models, events;
// ARGV model, job, queue lease (ms), maxlen, history, channel, quiet (1: no fit_accepted).
// Returns {gen, EventID} (an empty EventID when quiet). The acceptance time is the server's, like the expiry it starts.
var acceptScript = redis.NewScript(luaPrelude + `
local gen = redis.call('INCR', KEYS[1])
local now = servernow()
local f = {gen = tostring(gen), job = ARGV[2], st = 'pending', acc = string.format('%d', now),
  lease = string.format('%d', now), exp = string.format('%d', now + tonumber(ARGV[3])),
  ql = ARGV[3], fin = '', err = ''}
redis.call('HSET', KEYS[2], gen, cjson.encode(f))
redis.call('ZADD', KEYS[3], gen, gen)
redis.call('SADD', KEYS[4], ARGV[1])
prune(KEYS[2], KEYS[3], gen, tonumber(ARGV[5]))
if ARGV[7] == '1' then return {gen, ''} end
local id = emit(KEYS[5], ARGV[4], ARGV[6], 'fit_accepted', ARGV[1], gen, ARGV[2], f.acc, '')
return {gen, id}
`)

// renewScript: KEYS fits; ARGV gen, lease (ms), owner. Claims a pending fit for owner unless
// another owner's lease is still running, and moves its expiry to a queue lease after the new
// lease. Returns the fit record, or nil if none.
var renewScript = redis.NewScript(luaPrelude + `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local f = cjson.decode(raw)
if f.st ~= 'pending' then return raw end
local now = servernow()
if f.owner and f.owner ~= '' and f.owner ~= ARGV[3] and tonumber(f.lease) > now then return raw end
local ql = queueLease(f)
f.owner = ARGV[3]
f.ql = string.format('%d', ql)
local lease = now + tonumber(ARGV[2])
f.lease = string.format('%d', lease)
f.exp = string.format('%d', math.max(expiry(f), lease + ql))
raw = cjson.encode(f)
redis.call('HSET', KEYS[1], ARGV[1], raw)
return raw
`)

// queueScript: KEYS fits; ARGV gen, queue lease (ms). Gives a pending fit its queue lease from
// now (and after its holder's lease, if one holds it). Returns 1, 0 for a fit no longer pending,
// or nil if there is no such fit.
var queueScript = redis.NewScript(luaPrelude + `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local f = cjson.decode(raw)
if f.st ~= 'pending' then return 0 end
local ql = tonumber(ARGV[2])
local exp = math.max(expiry(f), servernow() + ql)
if f.owner and f.owner ~= '' then exp = math.max(exp, tonumber(f.lease) + ql) end
f.ql = string.format('%d', ql)
f.exp = string.format('%d', exp)
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(f))
return 1
`)

// releaseScript: KEYS fits; ARGV gen, owner. Clears owner's hold on a pending fit, leaving the
// lease. Returns 1, or nil if there is no such fit.
var releaseScript = redis.NewScript(luaPrelude + `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local f = cjson.decode(raw)
if f.st == 'pending' and f.owner == ARGV[2] then
  f.owner = ''
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(f))
end
return 1
`)

// completeScript: KEYS fits, pending, model, seq, events;
// ARGV model, gen, now, job, method, fittedAt, summary, blob, maxlen, recentFits, channel,
// history.
// Returns {1 if it became current else 0, EventID}, {0, ""} for a terminal fit, {-1, ""} if no
// record.
var completeScript = redis.NewScript(luaPrelude + `
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return {-1, ''} end
local f = cjson.decode(raw)
if f.st ~= 'pending' then return {0, ''} end
local gen = tonumber(ARGV[2])
local cur = redis.call('HGET', KEYS[3], 'gen')
local current = (not cur) or gen > tonumber(cur)
f.st = 'succeeded'
f.fin = ARGV[3]
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode(f))
redis.call('ZREM', KEYS[2], ARGV[2])
if current then
  local job = ARGV[4]
  if job == '' then job = f.job end
  redis.call('HSET', KEYS[3], 'gen', ARGV[2], 'job', job, 'method', ARGV[5], 'fitted', ARGV[6],
    'summary', ARGV[7], 'blob', ARGV[8], 'history', ARGV[12])
end
prune(KEYS[1], KEYS[2], seqOf(KEYS[4]), tonumber(ARGV[10]))
local data = '{"method":' .. cjson.encode(ARGV[5]) .. ',"current":' .. tostring(current) .. '}'
local id = emit(KEYS[5], ARGV[9], ARGV[11], 'model_ready', ARGV[1], ARGV[2], f.job, ARGV[3], data)
if current then return {1, id} end
return {0, id}
`)

// failScript: KEYS fits, pending, seq, events; ARGV model, gen, now, reason, maxlen, history,
// channel. Returns 1 if the fit was failed, 0 if it was already terminal, -1 if no record.
var failScript = redis.NewScript(luaPrelude + `
local raw = redis.call('HGET', KEYS[1], ARGV[2])
if not raw then return -1 end
local f = cjson.decode(raw)
if f.st ~= 'pending' then return 0 end
fail(KEYS[1], KEYS[2], KEYS[4], ARGV[5], ARGV[7], ARGV[1], ARGV[2], f, 'failed', ARGV[3], ARGV[4])
prune(KEYS[1], KEYS[2], seqOf(KEYS[3]), tonumber(ARGV[6]))
return 1
`)

// luaUnsettled: KEYS fits, pending, seq, events; ARGV model, upTo, now, maxlen, history,
// channel, reason. Expires pending fits ≤ upTo past their expiry and returns the others,
// ascending.
const luaUnsettled = `
local function unsettled(KEYS, ARGV)
local now = servernow()
local gens = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
local records = {}
for i, g in ipairs(gens) do
  local raw = redis.call('HGET', KEYS[1], g)
  if raw then records[i] = cjson.decode(raw) else records[i] = false end
end
local out = {}
local expired = false
for i, g in ipairs(gens) do
  local f = records[i]
  if not f then
    redis.call('ZREM', KEYS[2], g)
  elseif expiry(f) <= now then
    fail(KEYS[1], KEYS[2], KEYS[4], ARGV[4], ARGV[6], ARGV[1], g, f, 'expired', ARGV[3],
      ARGV[7])
    expired = true
  else
    out[#out + 1] = tonumber(g)
  end
end
if expired then prune(KEYS[1], KEYS[2], seqOf(KEYS[3]), tonumber(ARGV[5])) end
return out
end
`

// unsettledScript: Unsettled, as luaUnsettled.
var unsettledScript = redis.NewScript(luaPrelude + luaUnsettled + `
return unsettled(KEYS, ARGV)
`)

// acceptForecastScript: KEYS fits, pending, seq, events, job, model; ARGV model, (unused), now,
// maxlen, history, channel, reason, job record, job ttl ms. With a sequence of 0 it writes
// nothing and returns {0}; otherwise it writes the job record and returns the sequence, the
// current model's generation (0 without one) and its fit's job (empty without one), and the
// unsettled generations up to the sequence.
var acceptForecastScript = redis.NewScript(luaPrelude + luaUnsettled + `
local seq = seqOf(KEYS[3])
if seq == 0 then return {0} end
redis.call('SET', KEYS[5], ARGV[8], 'PX', ARGV[9])
ARGV[2] = tostring(seq)
local out = unsettled(KEYS, ARGV)
local current = redis.call('HMGET', KEYS[6], 'gen', 'job')
table.insert(out, 1, current[2] or '')
table.insert(out, 1, tonumber(current[1] or '0'))
table.insert(out, 1, seq)
return out
`)

// putUnlessAnsweredScript: KEYS job; ARGV job record, ttl ms. Writes the record unless the one there
// is answered (succeeded or failed), which it returns instead; nil when it wrote. A record's
// status is its fourth field, after an ID, a kind and a model name (encodeJob), so the anchored
// pattern reads it without decoding a result that may be large; a record it does not match
// (an ID with a quote in it) is decoded whole.
var putUnlessAnsweredScript = redis.NewScript(luaPrelude + `
local prev = redis.call('GET', KEYS[1])
if prev then
  local status = string.match(prev, '^{"job_id":"[^"]*","kind":"[^"]*","model":"[^"]*","status":"(%a+)"')
  if not status then
    local ok, rec = pcall(cjson.decode, prev)
    if ok and type(rec) == 'table' then status = rec.status end
  end
  if status == 'succeeded' or status == 'failed' then return prev end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`)

// emitScript: KEYS events; ARGV maxlen, channel, type, model, gen, job, ts, data.
// Returns the event ID.
var emitScript = redis.NewScript(luaPrelude + `
return emit(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
`)
