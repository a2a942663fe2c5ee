"""Where an incident stands on its escalation policy. PagerDuty's incident does not say
which level it is at, so the level is derived from who is assigned and who is on call at
each level; when that is not exactly one level, it is unknown and nobody guesses."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.mrkdwn import escape
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.models import EscalationPolicy, Incident, OnCall


class PolicySource(Protocol):
    """Where escalation policies and on-call lists are read from: PagerDuty itself for an
    action (`FreshPolicies`), a brief cache for drawing cards (`DrawingCache`)."""

    async def escalation_policy(self, policy_id: str) -> EscalationPolicy: ...

    async def oncalls(self, policy_id: str) -> Sequence[OnCall]: ...


class FreshPolicies:
    """Reads PagerDuty every time: what an action (escalate) decides on."""

    def __init__(self, pagerduty: PagerDutyClient) -> None:
        self._pagerduty = pagerduty

    async def escalation_policy(self, policy_id: str) -> EscalationPolicy:
        return await self._pagerduty.get_escalation_policy(policy_id)

    async def oncalls(self, policy_id: str) -> list[OnCall]:
        return await self._pagerduty.list_oncalls(policy_id)


@dataclass(frozen=True)
class Escalation:
    policy_name: str  # mrkdwn-safe
    levels: int
    current: int | None
    oncall_summary: str  # mrkdwn-safe: "level 1: Alice Adams; level 2: nobody."

    @property
    def following(self) -> int | None:
        """The next level, None when unknown or already the last."""
        return self.current + 1 if self.current and self.current < self.levels else None


async def escalation_of(incident: Incident, source: PolicySource) -> Escalation:
    policy = await source.escalation_policy(incident.escalation_policy.id)
    oncalls = await source.oncalls(policy.id)
    levels = {o.escalation_level for o in oncalls if o.user.id in incident.assignee_ids}
    count = len(policy.escalation_rules)
    return Escalation(
        policy_name=escape(policy.name or policy.summary or policy.id),
        levels=count,
        current=levels.pop() if len(levels) == 1 else None,
        oncall_summary=_oncall_summary(oncalls, count),
    )


def _oncall_summary(oncalls: Sequence[OnCall], last: int) -> str:
    by_level: dict[int, list[str]] = {}
    for entry in oncalls:
        by_level.setdefault(entry.escalation_level, []).append(escape(entry.user.summary))
    parts = [
        f"level {level}: {', '.join(sorted(set(by_level.get(level, [])))) or 'nobody'}"
        for level in range(1, last + 1)
    ]
    return "; ".join(parts) + "."
