"""The latest outcome per target wins: one Lua script for the ledger, rollouts and compliance.

Outcomes arrive at least once and in any order, so every book that keeps "where a target
stands" needs the same rule: a duplicate (same outcome id) or an older outcome (lower order)
changes nothing, a newer one replaces the standing and moves the counts. One script keeps
that rule in one place; each book passes only the keys it has (`''` for the others).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

# KEYS: [1] latest hash (target -> "<order> <status> <outcome id>") [2] counts hash | ''
#       [3] payload hash | '' [4] in-flight zset | ''
# ARGV: [1] target [2] order (%.6f) [3] status [4] outcome id [5] count prefix
#       [6] payload ('' none) [7] touch fields ('' replace; else the standing status stays and
#       only these JSON fields move) [8] fields kept from the old payload when null in the new
# `latest` lets the script tell a duplicate or a stale outcome without decoding a payload.
_LATEST_WINS = """
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local status, id, payload = ARGV[3], ARGV[4], ARGV[6]
if prev then
  local p_order, p_status, p_id = string.match(prev, '^(%S+) (%S+) (%S+)$')
  if p_id == ARGV[4] or tonumber(p_order) > tonumber(ARGV[2]) then return 0 end
  if ARGV[7] ~= '' then
    status, id = p_status, p_id
  elseif KEYS[2] ~= '' then
    redis.call('HINCRBY', KEYS[2], ARGV[5] .. p_status, -1)
  end
end
local merge = KEYS[3] ~= '' and payload ~= '' and (ARGV[7] ~= '' or ARGV[8] ~= '')
local old = merge and redis.call('HGET', KEYS[3], ARGV[1])
if old then
  local before, new = cjson.decode(old), cjson.decode(payload)
  if ARGV[7] ~= '' then
    for f in string.gmatch(ARGV[7], '%S+') do
      if new[f] ~= cjson.null then before[f] = new[f] end
    end
    payload = cjson.encode(before)
  elseif ARGV[8] ~= '' then
    for f in string.gmatch(ARGV[8], '%S+') do
      if new[f] == cjson.null then new[f] = before[f] end
    end
    payload = cjson.encode(new)
  end
end
if (ARGV[7] == '' or not prev) and KEYS[2] ~= '' then
  redis.call('HINCRBY', KEYS[2], ARGV[5] .. status, 1)
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. status .. ' ' .. id)
if KEYS[3] ~= '' and payload ~= '' then redis.call('HSET', KEYS[3], ARGV[1], payload) end
if KEYS[4] ~= '' then redis.call('ZREM', KEYS[4], ARGV[1]) end
return 1
"""


def order_of(seconds: float) -> str:
    """The order string every book uses: a timestamp with microseconds, fixed-point."""
    return f"{seconds:.6f}"


class LatestWins:
    """The one "latest outcome per target wins" script, registered on one client.

    Args:
        client: A Redis client (decode_responses=True).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._script = client.register_script(_LATEST_WINS)

    def record(
        self,
        *,
        latest: str,
        target: str,
        order: str,
        status: str,
        outcome_id: str,
        counts: str = "",
        prefix: str = "",
        payload_key: str = "",
        payload: str = "",
        leaving: str = "",
        touch: Sequence[str] = (),
        keep_if_null: Sequence[str] = (),
    ) -> bool:
        """Record one outcome of `target`. False when it was a duplicate or older than the latest.

        Args:
            latest: The hash of "<order> <status> <outcome id>" per target.
            order: `order_of(...)`: a newer outcome has a higher order.
            counts: A hash of counts per `prefix + status`, moved as the standing changes.
            payload_key: A hash of `payload` (a JSON object) per target.
            leaving: A sorted set the target leaves (what a rollout still waits on).
            touch: A sighting, not a standing: the status stays and only these JSON fields
                of the payload move (a target seen for the first time takes it whole).
            keep_if_null: JSON fields the old payload keeps when the new one has null.
        """
        for word in (order, status, outcome_id):
            if not word or any(c.isspace() for c in word):
                raise ValueError(f"latest: {word!r} must be one non-empty word")
        keys = [latest, counts, payload_key, leaving]
        args = [target, order, status, outcome_id, prefix, payload]
        args += [" ".join(touch), " ".join(keep_if_null)]
        return bool(self._script(keys=keys, args=args))
