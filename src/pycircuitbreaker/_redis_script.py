"""The Lua script that keeps a shared breaker's state in Redis, one atomic call per change.

Every operation reads the state, applies the breaker's rule with the thresholds passed
in (configuration stays out of Redis), writes it back with a TTL and returns the state.
Time is Redis ``TIME``, so the hosts' clocks never matter. A missing key (flushed,
evicted, expired) reads as a new CLOSED breaker and is written back on the next change.

Nothing read from Redis is trusted: every field must be an integer written the way this
script writes it, within its range, and every window entry too. An operation that finds
otherwise stops there and answers ``{'invalid', field}``; only ``force`` goes on, from a
new CLOSED state, which is how the caller repairs it. So no stored value can make the
script fail, allocate or loop without bound.

KEYS: the state hash, the set of trial-call leases and the failure-rate window (a string
of one byte per call for a count window, of 12 bytes of totals per slice for a time
window);
the caller gives all three the same hash tag, so they live in one Redis Cluster slot.
ARGV: operation, TTL in ms, then the operation's own arguments.
"""

from . import _constants

# Positions in the script's reply.
(STATE, ERRORS, SUCCESSES, RECOVER_AT, OPENED_AT, EPOCH, OPENINGS, NOW, LEASES,
 OLD_STATE, NOTICED, GRANTED, WINDOW_CALLS, WINDOW_SLOWS, WOULD_OPEN) = range(15)
REPLY_FIELDS = 15
NO_STATE = -1  # OLD_STATE when the operation changed nothing
INVALID = b"invalid"  # first item of the reply when the stored state is not valid

# The largest integer stored or answered: exact in a Lua number (a double), and longer
# than any count or millisecond timestamp can grow.
MAX_INTEGER = 2**53
# The longest open period, in ms (MAX_SECONDS of the options).
MAX_PERIOD_MS = int(_constants.MAX_SECONDS * 1000)

SCRIPT = """
local CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED, METRICS_ONLY = {CLOSED}, {OPEN}, \
{HALF_OPEN}, {FORCED_OPEN}, {DISABLED}, {METRICS_ONLY}
local NET_ERROR = {NET_ERROR}
local op, ttl = ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local MAX_INTEGER, MAX_PERIOD = {MAX_INTEGER}, {MAX_PERIOD_MS}

-- Whether ``key`` is missing or of type ``want``: any command of another type fails.
local function typed(key, want)
  local t = redis.call('TYPE', key)['ok']
  return t == 'none' or t == want
end

if not (typed(KEYS[1], 'hash') and typed(KEYS[2], 'zset')) then
  if op ~= 'force' then return {{'invalid', 'type'}} end
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
end
local h = redis.call('HMGET', KEYS[1], 's', 'e', 'c', 'r', 'o', 'g', 'n', 'wc', 'wf', 'ws',
                    'wh', 'wn')
local names = {{'s', 'e', 'c', 'r', 'o', 'g', 'n', 'wc', 'wf', 'ws', 'wh', 'wn'}}
local invalid = nil  -- the name of the first field found invalid

-- Return stored field i as an integer in lo..hi, ``default`` when it is missing; a
-- value this script would never have written marks the state invalid.
local function int(i, lo, hi, default)
  local v = h[i]
  if v == false then return default end
  local x = nil
  if #v <= 17 and string.match(v, '^%-?%d+$') then x = tonumber(v) end
  if x == nil or x < lo or x > hi then
    invalid = invalid or names[i]
    return default
  end
  return x
end

local function reset_all()
  -- A new breaker; leases and a window left behind belong to one that no longer exists.
  redis.call('DEL', KEYS[2], KEYS[3])
  return CLOSED, 0, 0, 0, now, now, 0, 0, 0, 0, 0, nil
end

local dirty = h[1] == false
local s, e, c, r, o, g, n, wc, wf, ws, wh, wn
if dirty then
  -- The state is gone (flushed, evicted, expired). A re-created breaker starts a new
  -- epoch that no call admitted before can match.
  s, e, c, r, o, g, n, wc, wf, ws, wh, wn = reset_all()
else
  s = int(1, CLOSED, METRICS_ONLY, CLOSED)
  e = int(2, 0, MAX_INTEGER, 0)
  c = int(3, 0, MAX_INTEGER, 0)
  -- Redis time may step back a little on a failover: an opening "in the future" is fine.
  o = int(5, 0, now + MAX_PERIOD, now)
  r = int(4, 0, o + MAX_PERIOD, 0)
  g = int(6, -MAX_INTEGER, MAX_INTEGER, now)
  n = int(7, 0, MAX_INTEGER, 0)
  -- The window's running totals: calls, failures, slow calls; the count window's next
  -- position, the time window's newest slice.
  wc = int(8, 0, MAX_INTEGER, 0)
  wf = int(9, 0, wc, 0)
  ws = int(10, 0, wc, 0)
  wh = int(11, 0, MAX_INTEGER, 0)
  wn = int(12, -MAX_INTEGER, MAX_INTEGER, nil)
  if invalid then
    if op ~= 'force' then return {{'invalid', invalid}} end
    -- A control overwrites whatever was there: the caller's way to repair it.
    s, e, c, r, o, g, n, wc, wf, ws, wh, wn = reset_all()
    dirty = true
  end
end
-- granted: 0 rejected, 1 admitted, 2 admitted holding a trial-call lease.
-- would: the times this operation found a METRICS_ONLY breaker would open.
local old, noticed, granted, would = -1, 0, 0, 0
-- The states whose calls all run and count as when CLOSED.
local function counting(state)
  return state == CLOSED or state == DISABLED or state == METRICS_ONLY
end

local function clear_window()
  wc, wf, ws, wh, wn = 0, 0, 0, 0, nil
  redis.call('DEL', KEYS[3])
  redis.call('HDEL', KEYS[1], 'wn')
  dirty = true
end

local function move(to)
  if old == -1 then old = s end
  s = to
  g = g + 1
  dirty = true
  redis.call('DEL', KEYS[2])
  if to ~= OPEN and to ~= HALF_OPEN then n = 0 end
  if to == CLOSED then clear_window() end
end

-- Add one call to a count window of ``size`` calls.
local function count_record(size, failed, slow)
  if wc == size then
    local byte = redis.call('GETRANGE', KEYS[3], wh, wh)
    local oldest = 0
    if string.match(byte, '^[0-3]$') then oldest = tonumber(byte) else invalid = 'window' end
    wf = math.max(wf - oldest % 2, 0)
    ws = math.max(ws - math.floor(oldest / 2), 0)
  else
    wc = wc + 1
  end
  redis.call('SETRANGE', KEYS[3], wh, tostring(failed + 2 * slow))
  wh = (wh + 1) % size
  wf = wf + failed
  ws = ws + slow
end

-- A time window is a string of ``size`` slices of SLICE bytes each: its calls, failures
-- and slow calls as little-endian uint32 (a missing or short string reads as zeros).
local SLICE, MAX_UINT32 = 12, 4294967295

-- Return the summed counts of ``n`` slices from slot ``first`` on, and zero them.
local function take_slices(first, n)
  local bytes = redis.call('GETRANGE', KEYS[3], first * SLICE, (first + n) * SLICE - 1)
  local calls, failed, slowed = 0, 0, 0
  for pos = 1, #bytes - SLICE + 1, SLICE do
    local c1, f1, s1 = struct.unpack('<I4I4I4', bytes, pos)
    if f1 > c1 or s1 > c1 then invalid = 'window' end
    calls, failed, slowed = calls + c1, failed + f1, slowed + s1
  end
  if #bytes > 0 then
    redis.call('SETRANGE', KEYS[3], first * SLICE, string.rep(string.char(0), #bytes))
  end
  return calls, failed, slowed
end

-- Move a time window of ``size`` slices of ``width`` ms on to now, emptying the slices
-- that fell out: one command when it all did, else at most two runs of the ring, each
-- read and zeroed in one command.
local function time_roll(size, width)
  local index = math.floor(now / width)
  if wn == nil then
    wn = index
    return
  end
  -- A call stamped before the newest slice (Redis time stepped back) joins it.
  if index <= wn then return end
  local gap = index - wn
  if gap >= size then
    redis.call('DEL', KEYS[3])
    wc, wf, ws = 0, 0, 0
  else
    local first = (wn + 1) % size
    local run = math.min(gap, size - first)
    local c1, f1, s1 = take_slices(first, run)
    local c2, f2, s2 = 0, 0, 0
    if gap > run then c2, f2, s2 = take_slices(0, gap - run) end
    wc = math.max(wc - c1 - c2, 0)
    wf = math.max(wf - f1 - f2, 0)
    ws = math.max(ws - s1 - s2, 0)
  end
  wn = index
end

-- Add calls made now to the newest slice of a time window of ``size`` slices.
local function time_add(size, calls, failed, slow)
  local at = (wn % size) * SLICE
  local bytes = redis.call('GETRANGE', KEYS[3], at, at + SLICE - 1)
  local c1, f1, s1 = 0, 0, 0
  if #bytes == SLICE then c1, f1, s1 = struct.unpack('<I4I4I4', bytes) end
  if f1 > c1 or s1 > c1 then
    invalid = 'window'
    return
  end
  redis.call('SETRANGE', KEYS[3], at, struct.pack('<I4I4I4', math.min(c1 + calls, MAX_UINT32),
             math.min(f1 + failed, MAX_UINT32), math.min(s1 + slow, MAX_UINT32)))
  wc = wc + calls
  wf = wf + failed
  ws = ws + slow
end

local function open(timeout)
  move(OPEN)
  c = 0
  r = now + timeout
  o = now
  n = n + 1
end

-- Where a METRICS_ONLY breaker would open: count it, and start counting afresh, as the
-- opening and the closing after it would have left the counts.
local function would_open()
  would = would + 1
  e = 0
  clear_window()
  dirty = true
end

local function notice()
  -- An OPEN breaker whose recovery time has come is HALF_OPEN, whoever notices.
  if s == OPEN and now >= r then
    move(HALF_OPEN)
    noticed = 1
  end
end

if op == 'error' then
  -- epoch admitted in, lease, threshold, open period (ms)
  if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
  if tonumber(ARGV[3]) == g then
    if counting(s) or s == HALF_OPEN then
      e = e + 1
      dirty = true
      if s == HALF_OPEN or (s == CLOSED and e >= tonumber(ARGV[5])) then
        open(tonumber(ARGV[6]))
      elseif s == METRICS_ONLY and e >= tonumber(ARGV[5]) then
        would_open()
      end
    end
  end
elseif op == 'success' then
  -- epoch admitted in, lease, strategy, recovery threshold
  if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
  if tonumber(ARGV[3]) == g then
    if counting(s) then
      if tonumber(ARGV[5]) == NET_ERROR then
        if e > 0 then e = e - 1 end
      else
        e = 0
      end
      dirty = true
    elseif s == HALF_OPEN then
      c = c + 1
      dirty = true
      if c >= tonumber(ARGV[6]) then
        e = 0
        move(CLOSED)
      end
    end
  end
elseif op == 'record' then
  -- epoch admitted in, outcomes (a digit a call: failed + 2 * slow; for a time window
  -- also '#calls:failed:slow'), 'count' or 'time',
  -- window size, slice width (ms), minimum calls, failure rate, slow-call rate (-1: slow
  -- calls do not count), open period (ms)
  if wc > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
    -- The window was evicted on its own: its totals describe calls no longer there.
    clear_window()
  end
  if tonumber(ARGV[3]) == g and counting(s) then
    local outcomes, by_time, size = ARGV[4], ARGV[5] == 'time', tonumber(ARGV[6])
    local minimum, rate, slow_rate = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
    -- Whether the window's rates are reached: ratios, as the local cores compare them.
    local function reached()
      return wc > 0 and wc >= minimum and (
        wf / wc >= rate or (slow_rate >= 0 and ws / wc >= slow_rate))
    end
    if not typed(KEYS[3], 'string')
        or (not by_time and (wc > size or wh >= size))
        or (by_time and (wn ~= nil and wn - math.floor(now / tonumber(ARGV[7])) > size
                         or redis.call('STRLEN', KEYS[3]) > size * SLICE
                         or redis.call('STRLEN', KEYS[3]) % SLICE ~= 0)) then
      -- A window that does not fit this breaker's: another configuration's (or an
      -- older version's), or a newest slice the whole window ahead of now.
      clear_window()
    end
    if by_time then
      -- Every outcome of the batch lands in the slice of now: roll once, add once.
      time_roll(size, tonumber(ARGV[7]))
      -- Outcomes by the number ('#calls:failed:slow'), as a fast caller batches them.
      local calls, failed, slow = string.match(outcomes, '^#(%d+):(%d+):(%d+)$')
      if calls then
        calls, failed, slow = tonumber(calls), tonumber(failed), tonumber(slow)
      else
        calls, failed, slow = #outcomes, 0, 0
        for i = 1, #outcomes do
          local v = tonumber(string.sub(outcomes, i, i))
          failed, slow = failed + v % 2, slow + math.floor(v / 2)
        end
      end
      if not invalid then time_add(size, calls, failed, slow) end
    else
      for i = 1, #outcomes do
        if invalid then break end
        local v = tonumber(string.sub(outcomes, i, i))
        count_record(size, v % 2, math.floor(v / 2))
        -- A METRICS_ONLY breaker is judged after every call, as the local cores judge
        -- it: a would-be opening starts the window afresh for the calls after it.
        if s == METRICS_ONLY and not invalid and reached() then would_open() end
      end
    end
    if invalid then
      -- A window entry this script never wrote: stop, leave the state hash as it was,
      -- and let the caller repair it.
      return {{'invalid', invalid}}
    end
    e = wf
    dirty = true
    if s == CLOSED and reached() then
      open(tonumber(ARGV[11]))
    elseif s == METRICS_ONLY and by_time and reached() then
      would_open()
    end
  end
elseif op == 'release' then
  -- lease
  redis.call('ZREM', KEYS[2], ARGV[3])
elseif op == 'acquire' then
  -- permits (0: no limit), lease, lease length (ms)
  notice()
  if s == HALF_OPEN then
    local permits = tonumber(ARGV[3])
    if permits == 0 then
      granted = 1
    else
      redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
      if redis.call('ZCARD', KEYS[2]) < permits then
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[4])
        redis.call('PEXPIRE', KEYS[2], ttl)
        granted = 2
      end
    end
  elseif counting(s) then
    granted = 1
  end
elseif op == 'force' then
  -- target state, open period (ms)
  local target = tonumber(ARGV[3])
  if target == OPEN then
    notice()
    if s ~= OPEN then
      open(tonumber(ARGV[4]))
    end
  else
    e = 0
    c = 0
    clear_window()
    if s ~= target then move(target) end
  end
end

if dirty then
  redis.call('HSET', KEYS[1], 's', s, 'e', e, 'c', c, 'r', r, 'o', o, 'g', g, 'n', n,
             'wc', wc, 'wf', wf, 'ws', ws, 'wh', wh)
  if wn ~= nil then redis.call('HSET', KEYS[1], 'wn', wn) end
  redis.call('PEXPIRE', KEYS[1], ttl)
  if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('PEXPIRE', KEYS[3], ttl) end
end
local leases = redis.call('ZCARD', KEYS[2])
return {{s, e, c, r, o, g, n, now, leases, old, noticed, granted, wc, ws, would}}
""".format(
    CLOSED=_constants.CLOSED,
    OPEN=_constants.OPEN,
    HALF_OPEN=_constants.HALF_OPEN,
    FORCED_OPEN=_constants.FORCED_OPEN,
    DISABLED=_constants.DISABLED,
    METRICS_ONLY=_constants.METRICS_ONLY,
    NET_ERROR=_constants.NET_ERROR,
    MAX_INTEGER=MAX_INTEGER,
    MAX_PERIOD_MS=MAX_PERIOD_MS,
)

