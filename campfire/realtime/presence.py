"""Room presence shared by the workers through Redis, counted per connection, with expiry.

Each worker writes its own share: `pw:{worker}` (room, user -> this worker's viewing
connections), and adds it to the room totals `pr:{room}` (user -> viewing connections on
every worker). Lua scripts change a share and the totals together and report the 0 -> 1 and
1 -> 0 transitions, so exactly one UserJoined and one UserLeft go out whatever the number of
workers. `workers` (a sorted set) holds each worker's expiry: a worker refreshes it every
REFRESH seconds, and one that stops (killed, frozen) is swept after TTL by any other, its
share subtracted (Redis 7.0 has no per-field expiry, hence the share hash). A worker whose
entry is missing (Redis restarted or it was swept) writes its whole share again (SYNC).
"""

from __future__ import annotations

from typing import Any

from campfire.realtime.broker import PREFIX, RedisBroker

REFRESH = 5.0  # seconds between a worker's refreshes of its expiry
TTL = 15.0  # seconds after which a silent worker's share is swept
SEP = "\x1f"  # between room and user in a share's field

# Apply a table of field -> delta to the room totals; returns {room, user, 1|0, ...}.
_APPLY = """
local function apply(prefix, delta, out)
  for field, d in pairs(delta) do
    if d ~= 0 then
      local sep = string.find(field, '\\31', 1, true)
      local room, user = string.sub(field, 1, sep - 1), string.sub(field, sep + 1)
      local pr = prefix .. ':pr:' .. room
      local before = tonumber(redis.call('HGET', pr, user) or '0')
      local after = before + d
      if after <= 0 then redis.call('HDEL', pr, user)
      else redis.call('HSET', pr, user, after) end
      if before <= 0 and after > 0 then
        table.insert(out, room); table.insert(out, user); table.insert(out, 1)
      elseif before > 0 and after <= 0 then
        table.insert(out, room); table.insert(out, user); table.insert(out, 0)
      end
    end
  end
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# ARGV: prefix, worker, field, delta, ttl_ms. Returns {before, after, users...}.
CHANGE = """
local prefix, worker, field, d = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local pw = prefix .. ':pw:' .. worker
local mine = redis.call('HINCRBY', pw, field, d)
if mine <= 0 then redis.call('HDEL', pw, field) end
local sep = string.find(field, '\\31', 1, true)
local room, user = string.sub(field, 1, sep - 1), string.sub(field, sep + 1)
local pr = prefix .. ':pr:' .. room
local before = tonumber(redis.call('HGET', pr, user) or '0')
local after = before + d
if after <= 0 then redis.call('HDEL', pr, user); after = 0
else redis.call('HSET', pr, user, after) end
redis.call('ZADD', prefix .. ':workers', now_ms() + tonumber(ARGV[5]), worker)
local out = {before, after}
for _, u in ipairs(redis.call('HKEYS', pr)) do table.insert(out, u) end
return out
"""

# ARGV: prefix, worker, ttl_ms, field, count, field, count... Replaces the worker's share.
SYNC = """
local prefix, worker = ARGV[1], ARGV[2]
local pw = prefix .. ':pw:' .. worker
local delta = {}
local old = redis.call('HGETALL', pw)
for i = 1, #old, 2 do delta[old[i]] = -tonumber(old[i + 1]) end
redis.call('DEL', pw)
for i = 4, #ARGV, 2 do
  delta[ARGV[i]] = (delta[ARGV[i]] or 0) + tonumber(ARGV[i + 1])
  redis.call('HSET', pw, ARGV[i], ARGV[i + 1])
end
local out = {}
apply(prefix, delta, out)
redis.call('ZADD', prefix .. ':workers', now_ms() + tonumber(ARGV[3]), worker)
return out
"""

# ARGV: prefix, worker, ttl_ms. Returns 1 when the worker's entry was missing (SYNC needed).
REFRESH_SCRIPT = """
local key = ARGV[1] .. ':workers'
local missing = redis.call('ZSCORE', key, ARGV[2]) == false
redis.call('ZADD', key, now_ms() + tonumber(ARGV[3]), ARGV[2])
if missing then return 1 end
return 0
"""

# ARGV: prefix. Subtracts the share of every worker past its expiry; the transitions.
SWEEP = """
local prefix = ARGV[1]
local key = prefix .. ':workers'
local out = {}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now_ms())) do
  local pw = prefix .. ':pw:' .. worker
  local delta = {}
  local old = redis.call('HGETALL', pw)
  for i = 1, #old, 2 do delta[old[i]] = -tonumber(old[i + 1]) end
  apply(prefix, delta, out)
  redis.call('DEL', pw)
  redis.call('ZREM', key, worker)
end
return out
"""

Transition = tuple[str, str, bool]  # (room, user, joined)


def _transitions(flat: list[Any]) -> list[Transition]:
    """{room, user, 1|0, ...} from a script as (room, user, joined) tuples."""
    return [
        (_text(flat[i]), _text(flat[i + 1]), int(flat[i + 2]) == 1) for i in range(0, len(flat), 3)
    ]


def _text(value: Any) -> str:
    """A Redis reply item as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedPresence:
    """This worker's share of room presence in Redis (every call may raise RedisError)."""

    def __init__(self, broker: RedisBroker) -> None:
        self.worker_id = broker.worker_id
        client = broker.client
        self._change = client.register_script(_APPLY + CHANGE)
        self._sync = client.register_script(_APPLY + SYNC)
        self._refresh = client.register_script(_APPLY + REFRESH_SCRIPT)
        self._sweep = client.register_script(_APPLY + SWEEP)
        self._ttl_ms = str(int(TTL * 1000))

    async def change(self, room_id: str, user_id: str, delta: int) -> tuple[int, int, list[str]]:
        """Add `delta` viewing connections of a user to a room: (total before, after, users)."""
        reply = await self._change(
            args=[PREFIX, self.worker_id, room_id + SEP + user_id, delta, self._ttl_ms]
        )
        return int(reply[0]), int(reply[1]), [_text(u) for u in reply[2:]]

    async def sync(self, share: dict[tuple[str, str], int]) -> list[Transition]:
        """Replace this worker's whole share (after Redis came back, or after being swept)."""
        args: list[Any] = [PREFIX, self.worker_id, self._ttl_ms]
        for (room_id, user_id), count in share.items():
            args += [room_id + SEP + user_id, count]
        return _transitions(await self._sync(args=args))

    async def refresh(self) -> bool:
        """Extend this worker's expiry; True when its share is gone and must be synced."""
        return bool(await self._refresh(args=[PREFIX, self.worker_id, self._ttl_ms]))

    async def sweep(self) -> list[Transition]:
        """Subtract the shares of workers that stopped refreshing; the users who left."""
        return _transitions(await self._sweep(args=[PREFIX]))
