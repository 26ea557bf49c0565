#!lua name=scitq
-- scitq's server library: the fenced, all-or-nothing commit of a round, and the server lock.
--
-- Keys touched (every one is passed in KEYS, names built in scitq/keys.py):
--   scitq:server:lock      string  the lock: "host:pid:machine:token:epoch", with a TTL
--   scitq:server:epoch     string  counter, incremented by every lock acquisition
--   scitq:server:alive     string  refreshed with the lock
--   scitq:events           stream  the ledger (entries added with the ids the server chose)
--   scitq:view:*           hash, set, zset, string   the views, their indexes and the checkpoint
--   scitq:server:cursor    hash    input stream -> last entry applied, worker -> last report applied
--   scitq:inbox, scitq:worker:<name>:outbox   stream   applied entries deleted
--   scitq:reply:<id>       list    answers to commands
--   scitq:idem:<key>       string  answers given to idempotency keys
--   scitq:queue:<batch>    stream  queue entries added, trimmed, acknowledged and deleted
--   scitq:worker:<name>:control   stream   orders to workers
--   scitq:rejected         stream  bad entries set aside
--
-- scitq_commit(KEYS = [lock, events, epoch, every other key of the round],
--              ARGV = [lock value, lock ttl ms, view prefix,
--                      the ops: MessagePack of a list of [COMMAND, key index, args...]])
-- checks, before writing anything: the lock holds the caller's value, or expired with no acquisition
-- since (the epoch counter unchanged) and is taken back (fencing); every key but the views has the
-- type its commands need (or does not exist, or is deleted first; a stream given entry ids is checked by
-- the XINFO STREAM that reads its last id, other keys with TYPE); every ledger id is above the
-- ledger's last id and increasing; every queue entry id acknowledged or deleted is a valid stream id.
-- Any failed check returns an error and writes nothing. Then it applies every op and refreshes the lock.
-- The caller puts the view ops first: views are derived from the ledger and not type-checked (the check
-- costs a TYPE call per view key and round); a view key of the wrong type stops the function there,
-- before anything but views was written, and the caller rebuilds the views from the ledger.

local TYPES = {
  XADD = 'stream', XDEL = 'stream', XACK = 'stream', XTRIM = 'stream',
  HSET = 'hash', HDEL = 'hash',
  SADD = 'set', SREM = 'set',
  ZADD = 'zset', ZREM = 'zset',
  SET = 'string', BITFIELD = 'string',
  LPUSH = 'list',
  DEL = false, EXPIRE = false,
}

local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)%-(%d+)$')
  if ms == nil then
    ms = string.match(id, '^(%d+)$')
    seq = '0'
  end
  if ms == nil or #ms > 15 or #seq > 15 then
    return nil
  end
  return {tonumber(ms), tonumber(seq)}
end

local function after(a, b)
  return a[1] > b[1] or (a[1] == b[1] and a[2] > b[2])
end

-- The last id ever added to stream `key` ({0, 0}: no such key), or nil and the error when `key` is not a
-- stream: one XINFO STREAM call is the type check, the existence check and the read.
local function last_id(key)
  local info = redis.pcall('XINFO', 'STREAM', key)
  if type(info) == 'table' and info['err'] then
    if string.find(info['err'], 'no such key', 1, true) then
      return {0, 0}
    end
    return nil, info['err']
  end
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return parse_id(info[i + 1])
    end
  end
  return {0, 0}
end

-- The fence: the lock holds `value`; or it expired and nobody took it since (the epoch counter still
-- ends `value`), in which case the caller gets it back.
local function fenced(lock_key, epoch_key, value, ttl)
  local holder = redis.call('GET', lock_key)
  if holder == value then
    return nil
  end
  local epoch = redis.call('GET', epoch_key)
  if not holder and epoch and string.sub(value, -(#epoch + 1)) == ':' .. epoch then
    redis.call('SET', lock_key, value, 'PX', ttl)
    return nil
  end
  return 'FENCED the server lock is held by ' .. tostring(holder)
end

local function commit(keys, args)
  local refused = fenced(keys[1], keys[3], args[1], args[2])
  if refused then
    return redis.error_reply(refused)
  end
  local prefix = args[3]
  local ok, ops = pcall(cmsgpack.unpack, args[4])
  if not ok or type(ops) ~= 'table' then
    return redis.error_reply('BADOP the ops do not decode')
  end
  local n = #ops
  local checked = {}
  local xadd_last = {}
  for i = 1, n do
    local op = ops[i]
    local cmd, k = op[1], op[2]
    local expected = TYPES[cmd]
    if expected == nil or type(k) ~= 'number' or keys[k] == nil then
      return redis.error_reply('BADOP op ' .. i .. ' (' .. tostring(cmd) .. ')')
    end
    local key = keys[k]
    local id = nil
    if cmd == 'XADD' and op[3] ~= '*' then
      id = op[3]   -- XADD ops are: key, id, field, value, ... (trimming is an XTRIM op)
    end
    if not checked[key] then
      checked[key] = true
      if id and xadd_last[key] == nil then
        -- its last id is read below with XINFO STREAM, which checks the type too (no TYPE call)
      elseif cmd ~= 'DEL' and string.sub(key, 1, #prefix) ~= prefix then
        local t = redis.call('TYPE', key)['ok']
        if expected and t ~= 'none' and t ~= expected then
          return redis.error_reply('BADTYPE ' .. key .. ' is a ' .. t .. ', not a ' .. expected)
        end
      end
    end
    if id then
      local parsed = parse_id(tostring(id))
      if parsed == nil then
        return redis.error_reply('BADID ' .. key .. ' entry id ' .. tostring(id))
      end
      local prev = xadd_last[key]
      if prev == nil then
        local err
        prev, err = last_id(key)
        if prev == nil then
          return redis.error_reply('BADTYPE ' .. key .. ' is not a stream (' .. tostring(err) .. ')')
        end
      end
      if not after(parsed, prev) then
        return redis.error_reply('LEDGER ' .. key .. ' is at ' .. prev[1] .. '-' .. prev[2] ..
                                 ', not before ' .. id)
      end
      xadd_last[key] = parsed
    elseif cmd == 'XDEL' or cmd == 'XACK' then
      local first = 3
      if cmd == 'XACK' then first = 4 end
      for j = first, #op do
        if type(op[j]) ~= 'string' or parse_id(op[j]) == nil then
          return redis.error_reply('BADID ' .. key .. ' entry id ' .. tostring(op[j]))
        end
      end
    end
    op[2] = key
  end
  for i = 1, n do
    local op = ops[i]
    redis.call(unpack(op))
  end
  redis.call('PEXPIRE', keys[1], args[2])
  return n
end

-- scitq_lock(KEYS = [lock, epoch, alive], ARGV = [identity "host:pid:machine:token", ttl ms, previous value or ""])
-- takes the lock if it is free (or still holds `previous`, a holder known dead); returns the new value
-- ("identity:epoch") or, when another holder has it, an error naming the holder.
local function lock(keys, args)
  local holder = redis.call('GET', keys[1])
  if holder and holder ~= args[3] then
    return redis.error_reply('HELD ' .. holder)
  end
  local epoch = redis.call('INCR', keys[2])
  local value = args[1] .. ':' .. epoch
  redis.call('SET', keys[1], value, 'PX', args[2])
  redis.call('SET', keys[3], value, 'PX', args[2])
  return value
end

-- scitq_lock_refresh(KEYS = [lock, alive, epoch], ARGV = [value, ttl ms]): extend the lock if it is ours
-- (or expired with nobody taking it since), else an error naming the holder.
local function lock_refresh(keys, args)
  local refused = fenced(keys[1], keys[3], args[1], args[2])
  if refused then
    return redis.error_reply(refused)
  end
  redis.call('PEXPIRE', keys[1], args[2])
  redis.call('SET', keys[2], args[1], 'PX', args[2])
  return 1
end

-- scitq_lock_release(KEYS = [lock, alive], ARGV = [value]): drop the lock if it is ours.
local function lock_release(keys, args)
  if redis.call('GET', keys[1]) == args[1] then
    redis.call('DEL', keys[1], keys[2])
    return 1
  end
  return 0
end

-- scitq_pack_output(KEYS = [output stream, packed output], ARGV = [last chunk id packed, the id just after it,
-- packed value]): store the packed value and drop the chunks it holds, in one step. A chunk written after
-- them (late) stays in the stream, where readers find it after the packed ones. 1: the stream is gone.
local function pack_output(keys, args)
  redis.call('SET', keys[2], args[3])
  local last = redis.call('XREVRANGE', keys[1], '+', '-', 'COUNT', 1)
  if #last == 0 or last[1][1] == args[1] then
    redis.call('DEL', keys[1])
    return 1
  end
  redis.call('XTRIM', keys[1], 'MINID', args[2])
  return 0
end

redis.register_function('scitq_commit', commit)
redis.register_function('scitq_lock', lock)
redis.register_function('scitq_lock_refresh', lock_refresh)
redis.register_function('scitq_lock_release', lock_release)
redis.register_function('scitq_pack_output', pack_output)
