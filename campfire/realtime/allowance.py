"""The per-user message allowance shared by the workers through Redis (a token bucket).

One hash per user, `allow:{user}` (tokens, stamp), changed by a Lua script that refills it by
the time elapsed (Redis's own clock, so the workers' clocks do not matter), takes one token
and sets an expiry of the time a full refill takes: a missing key is a full bucket, so idle
users cost nothing. A user's tabs on different workers thus share exactly one allowance.

Requests are not sent one by one: those that arrive while a batch is out wait for it and go
together in the next (one script call for the whole batch), so a flood costs one Redis round
trip per batch, not per message, and one connection. When Redis is unreachable (the broker
knows it) or does not answer within ANSWER_WAIT, `take` returns None and the caller uses the
worker's own bucket of 1/N of the allowance (core.Core.message_wait).
"""

from __future__ import annotations

import asyncio
import logging
import math

from campfire.realtime.broker import PREFIX, RedisBroker

log = logging.getLogger(__name__)

ANSWER_WAIT = 0.25  # seconds: beyond it a batch falls back to the local buckets
BATCH = 500

# KEYS: one bucket per request (a user may appear twice). ARGV: rate, burst, ttl_ms.
# Returns, per key, "0" (taken) or the seconds until one token is there (as text: Lua
# numbers become integers on the way out).
TAKE = """
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 't', 's')
  local tokens, stamp = tonumber(v[1]), tonumber(v[2])
  if tokens == nil or stamp == nil then tokens, stamp = burst, now end
  tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
  local wait = 0
  if tokens >= 1 then
    tokens = tokens - 1
  elseif rate > 0 then
    wait = (1 - tokens) / rate
  else
    wait = 60
  end
  redis.call('HSET', key, 't', tostring(tokens), 's', tostring(now))
  redis.call('PEXPIRE', key, ttl)
  out[i] = tostring(wait)
end
return out
"""


class SharedAllowance:
    """Each user's message allowance, one bucket in Redis for all the workers."""

    def __init__(self, broker: RedisBroker, rate: float, burst: int) -> None:
        self.broker = broker
        self._script = broker.client.register_script(TAKE)
        refill = burst / rate if rate > 0 else 60.0
        self._args = [str(rate), str(burst), str(math.ceil(refill * 1000) + 1000)]
        self._pending: list[tuple[str, asyncio.Future[float | None]]] = []
        self._sending = False
        self.batches = 0  # script calls made (tests, measurements)
        self.fallbacks = 0  # requests answered by the local buckets because Redis was not

    async def take(self, user_id: str) -> float | None:
        """Take one of a user's messages: 0, the seconds to wait, or None if Redis could
        not say (the caller then uses its local bucket)."""
        if not self.broker.connected:
            self.fallbacks += 1
            return None
        future: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._pending.append((f"{PREFIX}:allow:{user_id}", future))
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        """Send what waits, a batch at a time, until nothing does."""
        try:
            while self._pending:
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                answers: list[float | None]
                try:
                    reply = await asyncio.wait_for(
                        self._script(keys=[key for key, _ in batch], args=self._args),
                        ANSWER_WAIT,
                    )
                    answers = [float(value) for value in reply]
                    self.batches += 1
                except Exception as exc:  # Redis down, frozen or slow: the local buckets
                    log.debug("shared allowance unavailable (%s); local buckets", exc)
                    answers = [None] * len(batch)
                    self.fallbacks += len(batch)
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._sending = False
