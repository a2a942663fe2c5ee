"""Everything one simulated PagerDuty account holds, how tests fill it, and the references
(`{"id", "type": "user_reference", ...}`) that every answer is made of.

The endpoints that read and change it live beside it: directory.py, incidents.py,
responding.py.
"""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from app.demo.pagerduty.wire import API_URL, WEB_URL, RecordedRequest, invalid, timestamp

_INTERNAL_KEYS = frozenset({"level"})


class Account:
    """The account's records as PagerDuty would answer them, plus a few switches that make it
    behave like an account on a smaller plan or a sharper edge of the real API."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.shifts: dict[tuple[str, int], dict[str, Any]] = {}
        self.priorities: list[dict[str, Any]] = []
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self.abilities = ["sso", "teams", "urgencies", "read_only_users"]
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.resolutions: dict[str, str] = {}
        self.reopened: list[str] = []
        self.merged_into: dict[str, str] = {}
        self.status_updates: dict[str, list[dict[str, Any]]] = {}
        self.priorities_enabled = True  # off: GET /priorities answers an empty list
        self.responder_requests_enabled = True  # off: 402, no `coordinated_responding`
        self.without_alerts: set[str] = set()  # made through the API: PagerDuty won't merge
        self.refuse_in_bulk: set[str] = set()  # left out of a bulk PUT's answer
        self._ids = itertools.count(1)

    # -- what PagerDuty sends ----------------------------------------------------------------

    def webhook_body(self, event_type: str, incident_id: str, agent_id: str | None) -> bytes:
        """A v3 webhook delivery about an incident as it is now (`event_type` e.g.
        `incident.acknowledged`); `agent_id` is who did it (None: the service's alert)."""
        inc = self.incidents[incident_id]
        agent = self.user_ref(agent_id) if agent_id else inc["service"]
        data = {
            **{k: inc[k] for k in ("id", "type", "self", "html_url", "title", "status")},
            "number": inc["incident_number"],
            "incident_key": inc["incident_key"],
            "created_at": inc["created_at"],
            "service": inc["service"],
            "escalation_policy": inc["escalation_policy"],
            "assignees": [a["assignee"] for a in inc["assignments"]],
            "urgency": inc["urgency"],
        }
        event = {
            "id": f"01{uuid.uuid4().hex[:24].upper()}",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "agent": agent,
            "client": None,
            "data": data,
        }
        return json.dumps({"event": event}).encode()

    # -- seeding ---------------------------------------------------------------------------

    def add_webhook_subscription(
        self, url: str, *, active: bool = True, temporarily_disabled: bool = False
    ) -> dict[str, Any]:
        """A v3 webhook subscription (account-wide, incident events) delivering to `url`."""
        subscription = {
            "id": self.new_id("PWHS"),
            "type": "webhook_subscription",
            "active": active,
            "delivery_method": {
                "id": self.new_id("PDM"),
                "type": "http_delivery_method",
                "url": url,
                "temporarily_disabled": temporarily_disabled,
                "secret": None,
            },
            "description": "incident-bot",
            "events": ["incident.acknowledged", "incident.resolved", "incident.triggered"],
            "filter": {"type": "account_reference"},
        }
        self.webhook_subscriptions.append(subscription)
        return subscription

    def add_user(self, id: str, name: str, email: str) -> dict[str, Any]:
        user = {
            **self.ref("user", id, name),
            "type": "user",
            "name": name,
            "email": email,
            "time_zone": "UTC",
            "role": "user",
        }
        self.users[id] = user
        return user

    def add_service(
        self, id: str, name: str, *, status: str = "active", policy_id: str | None = None
    ) -> dict[str, Any]:
        self.services[id] = {**self.ref("service", id, name), "type": "service", "name": name}
        self.services[id].update(status=status, policy_id=policy_id)
        return self.services[id]

    def add_escalation_policy(self, id: str, name: str, levels: list[list[str]]) -> None:
        self.policies[id] = {"id": id, "name": name, "levels": [list(lv) for lv in levels]}

    def set_oncall(self, policy_id: str, level: int, user_ids: list[str]) -> None:
        """Change who is on call at ``level`` (1-based); level len+1 appends a level."""
        levels = self.policies[policy_id]["levels"]
        if level == len(levels) + 1:
            levels.append([])
        levels[level - 1] = list(user_ids)

    def set_shift(
        self, policy_id: str, level: int, schedule_id: str, schedule_name: str, end: str
    ) -> None:
        """The people at ``level`` are on call through this schedule until ``end``."""
        schedule = self.ref("schedule", schedule_id, schedule_name)
        self.shifts[(policy_id, level)] = {"schedule": schedule, "start": timestamp(), "end": end}

    def add_priority(self, id: str, name: str, description: str = "") -> dict[str, Any]:
        """Priorities list most severe first, in the order they are added."""
        priority = {**self.ref("priority", id, name), "type": "priority", "name": name}
        priority["description"] = description
        self.priorities.append(priority)
        return priority

    def add_incident(
        self,
        number: int,
        *,
        id: str,
        title: str,
        service_id: str,
        policy_id: str,
        status: str = "triggered",
        level: int = 1,
        assignee_ids: list[str] | None = None,
        urgency: str = "high",
        created_at: str | None = None,
    ) -> dict[str, Any]:
        now, policy = created_at or timestamp(), self.policies[policy_id]
        if assignee_ids is None:
            assignee_ids = policy["levels"][level - 1]
        service = self.ref("service", service_id, self.services[service_id]["name"])
        incident = {
            **self.ref("incident", id, f"[#{number}] {title}"),
            "type": "incident",
            "incident_number": number,
            "title": title,
            "status": status,
            "urgency": urgency,
            "created_at": now,
            "updated_at": now,
            "service": service,
            "escalation_policy": self.ref("escalation_policy", policy_id, policy["name"]),
            "assignments": [] if status == "resolved" else self.assign(assignee_ids, now),
            "acknowledgements": [],
            "last_status_change_at": now,
            "last_status_change_by": service,  # an alert on the service triggered it
            "priority": None,
            "resolve_reason": None,
            "incident_key": uuid.uuid5(uuid.NAMESPACE_URL, id).hex,
            "level": level,
        }
        self.incidents[id] = incident
        self.notes.setdefault(id, [])
        return incident

    # -- what the endpoints share ------------------------------------------------------------

    def new_id(self, prefix: str, digits: int = 3) -> str:
        return f"{prefix}{next(self._ids):0{digits}d}"

    def requester(self, rec: RecordedRequest) -> str:
        """The user in the request's ``From`` header, which every write must name."""
        email = rec.headers.get("from", "").lower()
        for user in self.users.values():
            if user["email"].lower() == email:
                return str(user["id"])
        raise invalid("Requester User Not Found")

    def offered_priorities(self) -> list[dict[str, Any]]:
        return self.priorities if self.priorities_enabled else []

    def oncall(self, incident: dict[str, Any], level: int) -> list[str]:
        levels: list[list[str]] = self.policies[incident["escalation_policy"]["id"]]["levels"]
        return levels[level - 1]

    def assign(self, user_ids: list[str], at: str) -> list[dict[str, Any]]:
        return [{"at": at, "assignee": self.user_ref(u)} for u in user_ids]

    def user_ref(self, user_id: str) -> dict[str, Any]:
        return self.ref("user", user_id, self.users[user_id]["name"])

    @staticmethod
    def ref(kind: str, id: str, summary: str) -> dict[str, Any]:
        plural = "escalation_policies" if kind == "escalation_policy" else f"{kind}s"
        web = "service-directory" if kind == "service" else plural
        return {
            "id": id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{API_URL}/{plural}/{id}",
            "html_url": f"{WEB_URL}/{web}/{id}",
        }

    @staticmethod
    def public(incident: dict[str, Any]) -> dict[str, Any]:
        """The incident as PagerDuty shows it, without the stand-in's own bookkeeping."""
        return {k: v for k, v in incident.items() if k not in _INTERNAL_KEYS}
