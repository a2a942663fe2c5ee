"""Escalation policies and on-call lists, kept briefly for drawing cards (issue 15).

A storm of 200 incidents on one service draws 200 cards from one policy: each card needs the
policy and who is on call, and asking PagerDuty 400 times for the same two answers is what
made new cards cost 3 reads each. Drawing may be a little stale (`ttl`, a minute by default);
an action (escalate) must never be: it reads through the client itself, and may hand its
fresh answer here (`remember_*`) so the card drawn after it agrees.
"""

import time
from collections.abc import Callable
from typing import Protocol

from cachetools import TTLCache

from app.pagerduty.models import EscalationPolicy, OnCall
from app.single_flight import SingleFlight

DRAWING_TTL_SECONDS = 60.0


class PolicyReader(Protocol):
    async def get_escalation_policy(self, policy_id: str) -> EscalationPolicy: ...

    async def list_oncalls(self, policy_id: str) -> list[OnCall]: ...


class DrawingCache:
    def __init__(
        self,
        pagerduty: PolicyReader,
        *,
        ttl: float = DRAWING_TTL_SECONDS,
        maxsize: int = 1000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pagerduty = pagerduty
        self._policies: TTLCache[str, EscalationPolicy] = TTLCache(maxsize, ttl, timer)
        self._oncalls: TTLCache[str, tuple[OnCall, ...]] = TTLCache(maxsize, ttl, timer)
        # Concurrent misses for one policy make one request, not one each.
        self._policy_reads: SingleFlight[str, EscalationPolicy] = SingleFlight()
        self._oncall_reads: SingleFlight[str, tuple[OnCall, ...]] = SingleFlight()

    async def escalation_policy(self, policy_id: str) -> EscalationPolicy:
        if (policy := self._policies.get(policy_id)) is not None:
            return policy

        async def read() -> EscalationPolicy:
            fresh = await self._pagerduty.get_escalation_policy(policy_id)
            self._policies[policy_id] = fresh
            return fresh

        return await self._policy_reads.run(policy_id, read)

    async def oncalls(self, policy_id: str) -> tuple[OnCall, ...]:
        if (oncalls := self._oncalls.get(policy_id)) is not None:
            return oncalls

        async def read() -> tuple[OnCall, ...]:
            fresh = tuple(await self._pagerduty.list_oncalls(policy_id))
            self._oncalls[policy_id] = fresh
            return fresh

        return await self._oncall_reads.run(policy_id, read)

    def remember_policy(self, policy: EscalationPolicy) -> None:
        """Keep a policy an action has just read fresh."""
        self._policies[policy.id] = policy

    def remember_oncalls(self, policy_id: str, oncalls: list[OnCall]) -> None:
        """Keep an on-call list an action has just read fresh."""
        self._oncalls[policy_id] = tuple(oncalls)

    def forget(self, policy_id: str) -> None:
        """Drop what is kept for `policy_id`; the next drawing reads it again."""
        self._policies.pop(policy_id, None)
        self._oncalls.pop(policy_id, None)
