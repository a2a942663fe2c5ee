"""PagerDuty REST API v2 stand-in, strict where the real API is and sharp where it bites.

Every request is checked against PagerDuty's published OpenAPI spec, so the bot cannot pass
tests with a request the real API would refuse. State changes copy PagerDuty's real
semantics, including the surprising ones (acknowledging a resolved incident reopens it).
"""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.demo.server import DroppedConnectionResponse, pause

API_URL = "https://api.pagerduty.com"
WEB_URL = "https://acme.pagerduty.com"
ACCEPT = "application/vnd.pagerduty+json;version=2"
PD_TEST_TOKEN = "pd-test-token"  # noqa: S105 - the simulated account's own key
_INTERNAL_KEYS = frozenset({"level"})
_DEFAULT_ERRORS = {
    401: (2006, "Invalid Credentials"),
    404: (2100, "Not Found"),
    429: (2020, "Rate Limit Exceeded"),
}


@dataclass
class RecordedRequest:
    """One request as the stand-in received it (recorded even when it was rejected)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    status: int = 0  # what the stand-in answered


@dataclass
class _Fault:
    method: str
    path_prefix: str
    status: int
    body: dict[str, Any] | str | None
    headers: dict[str, str] | None
    times: int
    hang: float | None
    close_connection: bool


class RequestValidator(Protocol):
    """Checks a request against PagerDuty's published spec; tests inject one (the spec and
    openapi-core are test-only), the playground runs without."""

    def __call__(
        self, method: str, path: str, query: QueryParams, headers: Headers, body: bytes
    ) -> list[str]: ...


class PagerDutyError(Exception):
    """Raised by handlers; becomes a PagerDuty-shaped error answer with nothing applied."""

    def __init__(self, status: int, code: int, message: str, *errors: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, list(errors)

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            error["errors"] = self.errors
        return JSONResponse({"error": error}, status_code=self.status)


def _invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, 2001, "Invalid Input Provided", *errors)


def _not_found() -> PagerDutyError:
    return PagerDutyError(404, 2100, "Not Found")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PagerDutyStandIn:
    """Stateful PagerDuty: seed it, point the bot at it, then assert on state and requests."""

    def __init__(
        self, api_token: str = PD_TEST_TOKEN, validator: RequestValidator | None = None
    ) -> None:
        self.api_token = api_token
        self.validator = validator
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.resolutions: dict[str, str] = {}
        self.reopened: list[str] = []
        self.webhook_subscriptions: list[dict[str, Any]] = []
        self.abilities = ["sso", "teams", "urgencies", "read_only_users"]
        self._init_responding()
        self._faults: list[_Fault] = []
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"])]
        )
        self._routes: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
            ("GET", "abilities", self._list_abilities),
            ("GET", "webhook_subscriptions", self._list_webhook_subscriptions),
            ("GET", "users", self._list_users),
            ("GET", "users/{}", self._get_user),
            ("GET", "oncalls", self._list_oncalls),
            ("GET", "escalation_policies/{}", self._get_policy),
            ("GET", "incidents/{}", self._get_incident),
            ("PUT", "incidents/{}", self._update_incident),
            ("POST", "incidents/{}/notes", self._create_note),
            *self._responding_routes(),
        ]

    # -- what PagerDuty sends ----------------------------------------------------------------

    def webhook_body(self, event_type: str, incident_id: str, agent_id: str | None) -> bytes:
        """A v3 webhook delivery about an incident as it is now (`event_type` e.g.
        `incident.acknowledged`); `agent_id` is who did it (None: the service's alert)."""
        inc = self.incidents[incident_id]
        agent = self._user_ref(agent_id) if agent_id else inc["service"]
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
            "id": f"PWHS{next(self._ids):03d}",
            "type": "webhook_subscription",
            "active": active,
            "delivery_method": {
                "id": f"PDM{next(self._ids):03d}",
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
            **self._ref("user", id, name),
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
        self.services[id] = {**self._ref("service", id, name), "type": "service", "name": name}
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
        now, policy = created_at or _now(), self.policies[policy_id]
        if assignee_ids is None:
            assignee_ids = policy["levels"][level - 1]
        service = self._ref("service", service_id, self.services[service_id]["name"])
        incident = {
            **self._ref("incident", id, f"[#{number}] {title}"),
            "type": "incident",
            "incident_number": number,
            "title": title,
            "status": status,
            "urgency": urgency,
            "created_at": now,
            "updated_at": now,
            "service": service,
            "escalation_policy": self._ref("escalation_policy", policy_id, policy["name"]),
            "assignments": [] if status == "resolved" else self._assign(assignee_ids, now),
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

    # -- fault injection and assertions ------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int,
        *,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        hang: float | None = None,
        close_connection: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with this instead; state is untouched."""
        fault = _Fault(
            method.upper(), path_prefix, status, body, headers, times, hang, close_connection
        )
        self._faults.append(fault)

    @property
    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def assert_no_spec_violations(self) -> None:
        assert not self.spec_violations, "PagerDuty would reject:\n" + "\n".join(
            self.spec_violations
        )

    # -- request pipeline ----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None  # the spec check reports it
        recorded = RecordedRequest(
            method=request.method,
            # Relative to where the stand-in is mounted (the playground serves it under a prefix).
            path="/" + request.path_params["path"],
            query={k: request.query_params.getlist(k) for k in request.query_params},
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
        )
        self.requests.append(recorded)
        await pause(request, self.latency)
        response = await self._answer(request, raw, recorded)
        recorded.status = response.status_code
        return response

    async def _answer(self, request: Request, raw: bytes, rec: RecordedRequest) -> Response:
        problems = (
            self.validator(rec.method, rec.path, request.query_params, request.headers, raw)
            if self.validator
            else []
        )
        if problems:
            target = f"{rec.method} {rec.path}?{request.url.query}".rstrip("?")
            self.spec_violations.extend(f"{target}: {p}" for p in problems)
            return _invalid(*problems).response()
        if raw and rec.json is None:
            return _invalid("Malformed JSON body").response()  # even without a spec
        if rec.headers.get("authorization") != f"Token token={self.api_token}":
            return PagerDutyError(401, 2006, "Invalid Credentials").response()
        if rec.headers.get("accept") != ACCEPT:
            self.spec_violations.append(f"{rec.method} {rec.path}: Accept must be {ACCEPT}")
            return PagerDutyError(406, 2001, f"Accept header must be {ACCEPT}").response()
        if fault := self._take_fault(rec):
            return await self._fault_response(request, fault)
        for method, pattern, handler in self._routes:
            parts, want = rec.path.strip("/").split("/"), pattern.split("/")
            if method != rec.method or len(parts) != len(want):
                continue
            if all(w in ("{}", p) for w, p in zip(want, parts, strict=True)):
                args = [p for w, p in zip(want, parts, strict=True) if w == "{}"]
                try:
                    answer = handler(rec, *args)
                    return answer if isinstance(answer, Response) else JSONResponse(answer)
                except PagerDutyError as err:
                    return err.response()
        return PagerDutyError(404, 2100, "Not Found", "not implemented by the stand-in").response()

    def _take_fault(self, rec: RecordedRequest) -> _Fault | None:
        for fault in self._faults:
            if fault.method == rec.method and rec.path.startswith(fault.path_prefix):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _fault_response(self, request: Request, fault: _Fault) -> Response:
        if fault.hang:
            await pause(request, fault.hang)
        if fault.close_connection:
            return DroppedConnectionResponse(status_code=fault.status, headers=fault.headers)
        if isinstance(fault.body, str):
            media = "application/json"
            return Response(fault.body, fault.status, headers=fault.headers, media_type=media)
        body = fault.body
        if body is None:
            code, message = _DEFAULT_ERRORS.get(fault.status, (0, HTTPStatus(fault.status).phrase))
            body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, fault.status, headers=fault.headers)

    # -- endpoints ---------------------------------------------------------------------------

    def _list_webhook_subscriptions(self, rec: RecordedRequest) -> dict[str, Any]:
        return self._page(rec, "webhook_subscriptions", list(self.webhook_subscriptions))

    def _list_abilities(self, rec: RecordedRequest) -> dict[str, Any]:
        return {"abilities": list(self.abilities)}

    def _list_users(self, rec: RecordedRequest) -> dict[str, Any]:
        needle = (rec.query.get("query") or [""])[0].lower()
        users = [
            u
            for u in self.users.values()
            if needle in u["name"].lower() or needle in u["email"].lower()
        ]
        return {"users": users, "limit": 25, "offset": 0, "more": False, "total": None}

    def _get_user(self, rec: RecordedRequest, user_id: str) -> dict[str, Any]:
        if user_id not in self.users:
            raise _not_found()
        return {"user": self.users[user_id]}

    def _list_oncalls(self, rec: RecordedRequest) -> dict[str, Any]:
        wanted = rec.query.get("escalation_policy_ids[]") or list(self.policies)
        user_filter = set(rec.query.get("user_ids[]", []))
        oncalls = [
            {
                "escalation_level": level,
                "user": self._user_ref(user_id),
                "escalation_policy": self._ref(
                    "escalation_policy", pid, self.policies[pid]["name"]
                ),
                **self._shift(pid, level),
            }
            for pid in wanted
            if pid in self.policies
            for level, user_ids in enumerate(self.policies[pid]["levels"], start=1)
            for user_id in user_ids
            if not user_filter or user_id in user_filter
        ]
        return {"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None}

    def _get_policy(self, rec: RecordedRequest, policy_id: str) -> dict[str, Any]:
        if policy_id not in self.policies:
            raise _not_found()
        policy = self.policies[policy_id]
        rules = [
            {
                "id": f"{policy_id}R{level}",
                "escalation_delay_in_minutes": 30,
                "targets": [self._user_ref(u) for u in user_ids],
            }
            for level, user_ids in enumerate(policy["levels"], start=1)
        ]
        body = {
            **self._ref("escalation_policy", policy_id, policy["name"]),
            "type": "escalation_policy",
            "name": policy["name"],
            "num_loops": 0,
            "escalation_rules": rules,
            "services": [],
            "teams": [],
        }
        return {"escalation_policy": body}

    def _get_incident(self, rec: RecordedRequest, key: str) -> dict[str, Any]:
        by_number = {str(i["incident_number"]): i for i in self.incidents.values()}
        incident = self.incidents.get(key) or by_number.get(key)
        if incident is None:
            raise _not_found()
        return {"incident": self._with_includes(rec, incident)}

    def _update_incident(self, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
        actor = self._requester(rec)
        if incident_id not in self.incidents:
            raise _not_found()  # writes never accept the incident number
        inc = copy.deepcopy(self.incidents[incident_id])  # commit only if everything succeeds
        change = (rec.json or {}).get("incident", {})
        now, was_resolved = _now(), inc["status"] == "resolved"
        status = change.get("status")
        reopening = was_resolved and status in ("acknowledged", "triggered")
        if was_resolved and not reopening and set(change) & {"escalation_level", "assignments"}:
            raise _invalid("Incident Already Resolved")
        if "escalation_level" in change:
            level = change["escalation_level"]
            if not 1 <= level <= len(self.policies[inc["escalation_policy"]["id"]]["levels"]):
                raise _invalid(f"Escalation level {level} is invalid")
            inc.update(level=level, status="triggered", acknowledgements=[])
            inc["assignments"] = self._assign(self._oncall(inc, level), now)
        if "assignments" in change:
            ids = [a.get("assignee", {}).get("id") for a in change["assignments"]]
            if unknown := [i for i in ids if i not in self.users]:
                raise _invalid(f"Assignee {unknown[0]} not found")
            inc.update(status="triggered", acknowledgements=[])
            inc["assignments"] = self._assign(ids, now)
        if status == "resolved":
            if was_resolved:
                raise _invalid("Incident Already Resolved")
            inc.update(status="resolved", assignments=[])
        elif status == "acknowledged":
            if reopening:  # real PagerDuty reopens and assigns it to the acknowledger
                inc["assignments"] = self._assign([actor], now)
            inc["status"] = "acknowledged"
            inc["acknowledgements"].append({"at": now, "acknowledger": self._user_ref(actor)})
        elif status == "triggered":
            if reopening and "assignments" not in change:
                inc["assignments"] = self._assign(self._oncall(inc, inc["level"]), now)
            inc.update(status="triggered", acknowledgements=[])
        for key in ("title", "urgency"):
            inc[key] = change.get(key, inc[key])
        self._update_more(inc, change, now)
        if status or {"escalation_level", "assignments"} & set(change):
            inc["last_status_change_at"] = now
            inc["last_status_change_by"] = self._user_ref(actor)
        inc["updated_at"] = now
        if status:  # a snooze ends with any status change
            inc["pending_actions"] = []
        if reopening:
            self.reopened.append(incident_id)
        if status == "resolved":
            self.resolutions[incident_id] = change.get("resolution", "")
        self.incidents[incident_id] = inc
        return {"incident": self._public(inc)}

    def _create_note(self, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
        actor = self._requester(rec)
        if incident_id not in self.incidents:
            raise _not_found()
        note = {
            "id": f"PNOTE{next(self._ids):02d}",
            "user": self._user_ref(actor),
            "content": (rec.json or {}).get("note", {}).get("content", ""),
            "created_at": _now(),
        }
        self.notes[incident_id].append(note)
        return {"note": note}  # 200, not 201: that is what PagerDuty answers here

    # -- helpers -----------------------------------------------------------------------------

    def _requester(self, rec: RecordedRequest) -> str:
        email = rec.headers.get("from", "").lower()
        for user in self.users.values():
            if user["email"].lower() == email:
                return str(user["id"])
        raise _invalid("Requester User Not Found")

    def _oncall(self, incident: dict[str, Any], level: int) -> list[str]:
        levels: list[list[str]] = self.policies[incident["escalation_policy"]["id"]]["levels"]
        return levels[level - 1]

    def _assign(self, user_ids: list[str], at: str) -> list[dict[str, Any]]:
        return [{"at": at, "assignee": self._user_ref(u)} for u in user_ids]

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        return self._ref("user", user_id, self.users[user_id]["name"])

    @staticmethod
    def _ref(kind: str, id: str, summary: str) -> dict[str, Any]:
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
    def _public(incident: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in incident.items() if k not in _INTERNAL_KEYS}

    # -- responding: priorities, lookups by name, snooze, merge, responders, create ---------

    def _init_responding(self) -> None:
        self.priorities: list[dict[str, Any]] = []
        self.priorities_enabled = True  # off: GET /priorities answers an empty list
        self.responder_requests_enabled = True  # off: 402, no `coordinated_responding`
        self.shifts: dict[tuple[str, int], dict[str, Any]] = {}
        self.status_updates: dict[str, list[dict[str, Any]]] = {}
        self.merged_into: dict[str, str] = {}
        self.without_alerts: set[str] = set()  # made through the API: PagerDuty won't merge
        self.refuse_in_bulk: set[str] = set()  # left out of a bulk PUT's answer

    def _responding_routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", "priorities", self._list_priorities),
            ("GET", "escalation_policies", self._list_policies),
            ("GET", "services", self._list_services),
            ("GET", "services/{}", self._get_service),
            ("GET", "incidents", self._list_incidents),
            ("PUT", "incidents", self._update_incidents),
            ("POST", "incidents", self._create_incident),
            ("POST", "incidents/{}/snooze", self._snooze),
            ("PUT", "incidents/{}/merge", self._merge),
            ("POST", "incidents/{}/responder_requests", self._request_responders),
            ("POST", "incidents/{}/status_updates", self._create_status_update),
        ]

    def add_priority(self, id: str, name: str, description: str = "") -> dict[str, Any]:
        """Priorities list most severe first, in the order they are added."""
        priority = {**self._ref("priority", id, name), "type": "priority", "name": name}
        priority["description"] = description
        self.priorities.append(priority)
        return priority

    def set_shift(
        self, policy_id: str, level: int, schedule_id: str, schedule_name: str, end: str
    ) -> None:
        """The people at ``level`` are on call through this schedule until ``end``."""
        schedule = self._ref("schedule", schedule_id, schedule_name)
        self.shifts[(policy_id, level)] = {"schedule": schedule, "start": _now(), "end": end}

    def reply_to_responder_request(self, incident_id: str, user_id: str, state: str) -> None:
        """What the paged person does in PagerDuty: ``joined`` or ``declined``."""
        for responder in self.incidents[incident_id].get("incidents_responders", []):
            if responder["user"]["id"] == user_id:
                responder.update(state=state, updated_at=_now())

    def _shift(self, policy_id: str, level: int) -> dict[str, Any]:
        return self.shifts.get((policy_id, level), {"schedule": None, "start": None, "end": None})

    def _with_includes(self, rec: RecordedRequest, incident: dict[str, Any]) -> dict[str, Any]:
        public = self._public(incident)
        if "conference_bridge" not in rec.query.get("include[]", []):
            public.pop("conference_bridge", None)  # PagerDuty sends it only when asked
        return public

    def _update_more(self, inc: dict[str, Any], change: dict[str, Any], now: str) -> None:
        """The fields of PUT /incidents/{id} beyond status, level and assignees."""
        if "priority" in change:
            wanted = change["priority"]
            by_id = {p["id"]: p for p in self._priorities()}
            by_name = {p["name"]: p for p in reversed(self._priorities())}  # highest wins
            found = by_name.get(wanted) if isinstance(wanted, str) else by_id.get(wanted["id"])
            if found is None:
                raise _invalid("Priority not found")
            inc["priority"] = found
        if "conference_bridge" in change:
            inc["conference_bridge"] = change["conference_bridge"]
        if "escalation_policy" in change:
            policy_id = change["escalation_policy"]["id"]
            if policy_id not in self.policies:
                raise _invalid("Escalation Policy Not Found")
            if inc["status"] == "resolved":
                raise _invalid("Incident Already Resolved")
            name = self.policies[policy_id]["name"]
            inc["escalation_policy"] = self._ref("escalation_policy", policy_id, name)
            inc.update(level=1, status="triggered", acknowledgements=[], pending_actions=[])
            inc["assignments"] = self._assign(self._oncall(inc, 1), now)

    def _priorities(self) -> list[dict[str, Any]]:
        return self.priorities if self.priorities_enabled else []

    def _list_priorities(self, rec: RecordedRequest) -> dict[str, Any]:
        return self._page(rec, "priorities", self._priorities())

    def _list_policies(self, rec: RecordedRequest) -> dict[str, Any]:
        needle = (rec.query.get("query") or [""])[0].lower()
        found = [
            self._get_policy(rec, pid)["escalation_policy"]
            for pid, policy in self.policies.items()
            if needle in policy["name"].lower()  # loose, like PagerDuty's `query`
        ]
        return self._page(rec, "escalation_policies", found)

    def _list_services(self, rec: RecordedRequest) -> dict[str, Any]:
        needle = (rec.query.get("query") or [""])[0].lower()
        found = [
            self._service(s) for s in self.services if needle in self.services[s]["name"].lower()
        ]
        return self._page(rec, "services", found)

    def _get_service(self, rec: RecordedRequest, service_id: str) -> dict[str, Any]:
        if service_id not in self.services:
            raise _not_found()
        return {"service": self._service(service_id)}

    def _service(self, service_id: str) -> dict[str, Any]:
        service = {k: v for k, v in self.services[service_id].items() if k != "policy_id"}
        if policy_id := self.services[service_id]["policy_id"]:
            name = self.policies[policy_id]["name"]
            service["escalation_policy"] = self._ref("escalation_policy", policy_id, name)
        return service

    def _list_incidents(self, rec: RecordedRequest) -> dict[str, Any]:
        users, statuses = set(rec.query.get("user_ids[]", [])), rec.query.get("statuses[]")
        found = [
            self._public(i)
            for i in self.incidents.values()
            if (not statuses or i["status"] in statuses)
            and (not users or users & {a["assignee"]["id"] for a in i["assignments"]})
        ]
        order = (rec.query.get("sort_by") or ["created_at:asc"])[0]
        found.sort(
            key=lambda i: (i["created_at"], i["incident_number"]), reverse=order.endswith("desc")
        )
        return self._page(rec, "incidents", found)

    def _update_incidents(self, rec: RecordedRequest) -> dict[str, Any]:
        """Each item goes through the one-incident path; PagerDuty's answer for a partial
        failure is undocumented, so a refused item is simply missing from the answer."""
        items = (rec.json or {}).get("incidents", [])
        if len(items) > 250:
            raise PagerDutyError(413, 2001, "Request Entity Too Large")
        self._requester(rec)
        updated = []
        for item in items:
            one = copy.copy(rec)
            one.json = {"incident": {k: v for k, v in item.items() if k != "id"}}
            if item["id"] in self.refuse_in_bulk:
                continue
            try:
                updated.append(self._update_incident(one, item["id"])["incident"])
            except PagerDutyError:
                continue
        return {"incidents": updated, "limit": 250, "offset": 0, "more": False, "total": None}

    def _snooze(self, rec: RecordedRequest, incident_id: str) -> Response:
        actor = self._requester(rec)
        inc = self._open_incident(incident_id)
        if inc["status"] != "acknowledged":
            raise _invalid("Incident must be acknowledged before it can be snoozed")
        until = datetime.now(UTC) + timedelta(seconds=(rec.json or {})["duration"])
        at = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        inc["pending_actions"] = [{"type": "unacknowledge", "at": at}]
        inc["updated_at"] = _now()
        inc["last_status_change_by"] = self._user_ref(actor)
        return JSONResponse({"incident": self._public(inc)}, status_code=201)

    def _merge(self, rec: RecordedRequest, target_id: str) -> dict[str, Any]:
        self._requester(rec)
        target = self.incidents.get(target_id)
        if target is None:
            raise _not_found()
        if target["status"] == "resolved":
            raise _invalid("Open incidents cannot be merged into a resolved incident")
        source_ids = [s["id"] for s in (rec.json or {}).get("source_incidents", [])]
        for source_id in source_ids:
            if source_id not in self.incidents:
                raise _invalid(f"Incident {source_id} not found")
            if source_id == target_id:
                raise _invalid("Cannot merge an incident into itself")
            if source_id in self.without_alerts or target_id in self.without_alerts:
                raise _invalid("Only incidents with alerts can be merged")
        now = _now()
        for source_id in source_ids:
            source = self.incidents[source_id]
            source.update(status="resolved", assignments=[], pending_actions=[], updated_at=now)
            source["resolve_reason"] = {
                "type": "merge_resolve_reason",
                "incident": self._ref("incident", target_id, target["summary"]),
            }
            self.merged_into[source_id] = target_id
        return {"incident": self._ref("incident", target_id, target["summary"])}

    def _request_responders(self, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
        if not self.responder_requests_enabled:
            raise PagerDutyError(
                402, 2012, "Account does not have the abilities to perform the action"
            )
        inc = self._open_incident(incident_id)
        body = rec.json or {}
        requester_id = body.get("requester_id")
        if requester_id not in self.users:
            raise _invalid("Requester not found")
        targets, user_ids = [], []
        for wrapped in body.get("responder_request_targets", []):
            target = wrapped.get("responder_request_target", {})
            if target.get("type") == "user_reference" and target.get("id") in self.users:
                user_ids.append(target["id"])
            elif (
                target.get("type") == "escalation_policy_reference"
                and target.get("id") in self.policies
            ):
                user_ids += self.policies[target["id"]]["levels"][0]
            else:
                raise _invalid(f"Responder request target {target.get('id')} not found")
            targets.append(
                {"responder_request_target": {"id": target["id"], "type": target["type"]}}
            )
        now, incident_ref = _now(), self._ref("incident", incident_id, inc["summary"])
        responders = inc.setdefault("incidents_responders", [])
        for user_id in user_ids:
            responders.append(
                {
                    "state": "pending",
                    "user": self._user_ref(user_id),
                    "incident": incident_ref,
                    "requester": self._user_ref(requester_id),
                    "message": body.get("message", ""),
                    "requested_at": now,
                    "updated_at": now,
                }
            )
        request = {
            "incident": incident_ref,
            "requester": self._user_ref(requester_id),
            "requested_at": now,
            "message": body.get("message", ""),
            "responder_request_targets": targets,
        }
        inc.setdefault("responder_requests", []).append(request)
        return {"responder_request": request}

    def _create_status_update(self, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
        actor = self._requester(rec)
        if incident_id not in self.incidents:
            raise _not_found()
        update = {
            "id": f"PSTU{next(self._ids):03d}",
            "message": (rec.json or {}).get("message", ""),
            "created_at": _now(),
            "sender": self._user_ref(actor),
        }
        self.status_updates.setdefault(incident_id, []).append(update)
        return {"status_update": update}

    def _create_incident(self, rec: RecordedRequest) -> Response:
        actor = self._requester(rec)
        wanted = (rec.json or {}).get("incident", {})
        service = self.services.get(wanted.get("service", {}).get("id"))
        if service is None:
            raise _invalid("Service not found")
        if service["status"] == "disabled":
            raise _invalid("Service is disabled")
        key = wanted.get("incident_key")
        if key and any(
            i["incident_key"] == key
            and i["status"] != "resolved"
            and i["service"]["id"] == service["id"]
            for i in self.incidents.values()
        ):
            raise _invalid("Open incident with matching dedup key already exists on this service")
        if service["policy_id"] is None:
            raise _invalid("Service has no escalation policy")
        number = max((i["incident_number"] for i in self.incidents.values()), default=0) + 1
        incident_id = f"PNEW{number:03d}"
        inc = self.add_incident(
            number,
            id=incident_id,
            title=wanted["title"],
            service_id=service["id"],
            policy_id=service["policy_id"],
            urgency=wanted.get("urgency", "high"),
        )
        if key:
            inc["incident_key"] = key
        if "priority" in wanted:
            self._update_more(inc, {"priority": wanted["priority"]}, inc["created_at"])
        inc["last_status_change_by"] = self._user_ref(actor)
        self.without_alerts.add(incident_id)
        return JSONResponse({"incident": self._public(inc)}, status_code=201)

    def _open_incident(self, incident_id: str) -> dict[str, Any]:
        if incident_id not in self.incidents:
            raise _not_found()  # writes never accept the incident number
        inc = self.incidents[incident_id]
        if inc["status"] == "resolved":
            raise _invalid("Incident Already Resolved")
        return inc

    @staticmethod
    def _page(rec: RecordedRequest, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        limit = int((rec.query.get("limit") or ["25"])[0])
        offset = int((rec.query.get("offset") or ["0"])[0])
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {key: page, "limit": limit, "offset": offset, "more": more, "total": None}


def seed_default(pd: PagerDutyStandIn) -> None:
    """The world the bot's tests share: one incident, a three-level policy, a decoy user."""
    pd.add_user("PALICE1", "Alice Example", "alice@example.com")
    pd.add_user("PBOB002", "Bob Builder", "bob@example.com")
    pd.add_user("PCAROL3", "Carol Chen", "carol@example.com")
    pd.add_user("PMAL004", "Mallory", "malice@example.com")  # loose query "alice@..." hits her
    pd.add_service("PSVC001", "Checkout API", policy_id="PEPOL01")
    pd.add_escalation_policy(
        "PEPOL01", "Checkout escalation", [["PALICE1"], ["PBOB002"], ["PCAROL3"]]
    )
    pd.add_incident(
        123,
        id="PT4KHLK",
        title="checkout API error rate high",
        service_id="PSVC001",
        policy_id="PEPOL01",
    )
    for id, name in [("PPRIO01", "P1"), ("PPRIO02", "P2"), ("PPRIO03", "P3")]:
        pd.add_priority(id, name)
    pd.add_webhook_subscription("https://incident-bot.example.com/pagerduty/webhooks")


def seed_responding(pd: PagerDutyStandIn) -> None:
    """Beyond the default world: a second team, two policies sharing a name, a disabled
    service, shifts with schedules, and more of Alice's incidents."""
    pd.add_escalation_policy("PEPOL02", "Payments", [["PBOB002"], ["PCAROL3"]])
    pd.add_escalation_policy("PEPOL03", "Platform", [["PCAROL3"]])
    pd.add_escalation_policy("PEPOL04", "platform", [["PBOB002"]])  # same name, any case
    pd.add_escalation_policy("PEPOL05", "Platform v2", [["PALICE1"]])  # `query` hits it too
    pd.add_service("PSVC002", "Payments API", policy_id="PEPOL02")
    pd.add_service("PSVC003", "Legacy billing", status="disabled", policy_id="PEPOL02")
    pd.set_shift("PEPOL01", 1, "PSCHED1", "Checkout primary", "2030-01-01T09:00:00Z")
    pd.set_shift("PEPOL01", 2, "PSCHED2", "Checkout secondary", "2030-01-02T09:00:00Z")
    pd.add_incident(
        124,
        id="PQ2OLD0",
        title="disk filling on checkout-db",
        service_id="PSVC001",
        policy_id="PEPOL01",
        status="acknowledged",
        created_at="2026-01-01T10:00:00Z",
    )
    pd.add_incident(
        125,
        id="PRESOLV",
        title="yesterday's outage",
        service_id="PSVC001",
        policy_id="PEPOL01",
        status="resolved",
    )
    pd.add_incident(
        126,
        id="PPAY126",
        title="payments latency",
        service_id="PSVC002",
        policy_id="PEPOL02",
    )
