"""The check-in desk: answers pull agents for the controller.

Placeholder until pull mode lands: every check-in is refused with that reason, so an
agent started early gets a clear answer instead of silence.
"""

from __future__ import annotations

import redis

from contracts.checkins import CheckinReply


class CheckinDesk:
    """Turns a check-in request into a reply."""

    def __init__(self, client: redis.Redis, *, rate_per_s: float, burst: int) -> None:
        self.redis = client
        self.rate_per_s = rate_per_s
        self.burst = burst

    def answer(self, body: bytes) -> CheckinReply:
        return CheckinReply(admitted=False, refused="pull mode is not enabled yet")
