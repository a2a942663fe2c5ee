"""The incident endpoints: get, list, update (one or in bulk), notes, create, snooze, merge.

State changes copy PagerDuty's real semantics, including the surprising ones (acknowledging a
resolved incident reopens it); a refused change leaves the incident as it was.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import JSONResponse, Response

from app.demo.pagerduty.account import Account
from app.demo.pagerduty.wire import (
    Endpoint,
    PagerDutyError,
    RecordedRequest,
    invalid,
    not_found,
    page,
    timestamp,
)


def get_incident(account: Account, rec: RecordedRequest, key: str) -> dict[str, Any]:
    by_number = {str(i["incident_number"]): i for i in account.incidents.values()}
    incident = account.incidents.get(key) or by_number.get(key)
    if incident is None:
        raise not_found()
    public = account.public(incident)
    if "conference_bridge" not in rec.query.get("include[]", []):
        public.pop("conference_bridge", None)  # PagerDuty sends it only when asked
    return {"incident": public}


def list_incidents(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    users, statuses = set(rec.query.get("user_ids[]", [])), rec.query.get("statuses[]")
    found = [
        account.public(i)
        for i in account.incidents.values()
        if (not statuses or i["status"] in statuses)
        and (not users or users & {a["assignee"]["id"] for a in i["assignments"]})
    ]
    order = (rec.query.get("sort_by") or ["created_at:asc"])[0]
    found.sort(
        key=lambda i: (i["created_at"], i["incident_number"]), reverse=order.endswith("desc")
    )
    return page(rec, "incidents", found)


def open_incident(account: Account, incident_id: str) -> dict[str, Any]:
    """The incident a write acts on, refused as PagerDuty does once it is resolved."""
    if incident_id not in account.incidents:
        raise not_found()  # writes never accept the incident number
    inc = account.incidents[incident_id]
    if inc["status"] == "resolved":
        raise invalid("Incident Already Resolved")
    return inc


def update_incident(account: Account, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
    actor = account.requester(rec)
    if incident_id not in account.incidents:
        raise not_found()  # writes never accept the incident number
    inc = copy.deepcopy(account.incidents[incident_id])  # commit only if everything succeeds
    change = (rec.json or {}).get("incident", {})
    now, was_resolved = timestamp(), inc["status"] == "resolved"
    status = change.get("status")
    reopening = was_resolved and status in ("acknowledged", "triggered")
    if was_resolved and not reopening and set(change) & {"escalation_level", "assignments"}:
        raise invalid("Incident Already Resolved")
    if "escalation_level" in change:
        level = change["escalation_level"]
        if not 1 <= level <= len(account.policies[inc["escalation_policy"]["id"]]["levels"]):
            raise invalid(f"Escalation level {level} is invalid")
        inc.update(level=level, status="triggered", acknowledgements=[])
        inc["assignments"] = account.assign(account.oncall(inc, level), now)
    if "assignments" in change:
        ids = [a.get("assignee", {}).get("id") for a in change["assignments"]]
        if unknown := [i for i in ids if i not in account.users]:
            raise invalid(f"Assignee {unknown[0]} not found")
        inc.update(status="triggered", acknowledgements=[])
        inc["assignments"] = account.assign(ids, now)
    if status == "resolved":
        if was_resolved:
            raise invalid("Incident Already Resolved")
        inc.update(status="resolved", assignments=[])
    elif status == "acknowledged":
        if reopening:  # real PagerDuty reopens and assigns it to the acknowledger
            inc["assignments"] = account.assign([actor], now)
        inc["status"] = "acknowledged"
        inc["acknowledgements"].append({"at": now, "acknowledger": account.user_ref(actor)})
    elif status == "triggered":
        if reopening and "assignments" not in change:
            inc["assignments"] = account.assign(account.oncall(inc, inc["level"]), now)
        inc.update(status="triggered", acknowledgements=[])
    for key in ("title", "urgency"):
        inc[key] = change.get(key, inc[key])
    _update_more(account, inc, change, now)
    if status or {"escalation_level", "assignments"} & set(change):
        inc["last_status_change_at"] = now
        inc["last_status_change_by"] = account.user_ref(actor)
    inc["updated_at"] = now
    if status:  # a snooze ends with any status change
        inc["pending_actions"] = []
    if reopening:
        account.reopened.append(incident_id)
    if status == "resolved":
        account.resolutions[incident_id] = change.get("resolution", "")
    account.incidents[incident_id] = inc
    return {"incident": account.public(inc)}


def _update_more(account: Account, inc: dict[str, Any], change: dict[str, Any], now: str) -> None:
    """The fields of PUT /incidents/{id} beyond status, level and assignees."""
    if "priority" in change:
        wanted = change["priority"]
        by_id = {p["id"]: p for p in account.offered_priorities()}
        by_name = {p["name"]: p for p in reversed(account.offered_priorities())}  # highest wins
        found = by_name.get(wanted) if isinstance(wanted, str) else by_id.get(wanted["id"])
        if found is None:
            raise invalid("Priority not found")
        inc["priority"] = found
    if "conference_bridge" in change:
        inc["conference_bridge"] = change["conference_bridge"]
    if "escalation_policy" in change:
        policy_id = change["escalation_policy"]["id"]
        if policy_id not in account.policies:
            raise invalid("Escalation Policy Not Found")
        if inc["status"] == "resolved":
            raise invalid("Incident Already Resolved")
        name = account.policies[policy_id]["name"]
        inc["escalation_policy"] = account.ref("escalation_policy", policy_id, name)
        inc.update(level=1, status="triggered", acknowledgements=[], pending_actions=[])
        inc["assignments"] = account.assign(account.oncall(inc, 1), now)


def update_incidents(account: Account, rec: RecordedRequest) -> dict[str, Any]:
    """Each item goes through the one-incident path; PagerDuty's answer for a partial
    failure is undocumented, so a refused item is simply missing from the answer."""
    items = (rec.json or {}).get("incidents", [])
    if len(items) > 250:
        raise PagerDutyError(413, 2001, "Request Entity Too Large")
    account.requester(rec)
    updated = []
    for item in items:
        one = copy.copy(rec)
        one.json = {"incident": {k: v for k, v in item.items() if k != "id"}}
        if item["id"] in account.refuse_in_bulk:
            continue
        try:
            updated.append(update_incident(account, one, item["id"])["incident"])
        except PagerDutyError:
            continue
    return {"incidents": updated, "limit": 250, "offset": 0, "more": False, "total": None}


def create_note(account: Account, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
    actor = account.requester(rec)
    if incident_id not in account.incidents:
        raise not_found()
    note = {
        "id": account.new_id("PNOTE", digits=2),
        "user": account.user_ref(actor),
        "content": (rec.json or {}).get("note", {}).get("content", ""),
        "created_at": timestamp(),
    }
    account.notes[incident_id].append(note)
    return {"note": note}  # 200, not 201: that is what PagerDuty answers here


def create_incident(account: Account, rec: RecordedRequest) -> Response:
    actor = account.requester(rec)
    wanted = (rec.json or {}).get("incident", {})
    service = account.services.get(wanted.get("service", {}).get("id"))
    if service is None:
        raise invalid("Service not found")
    if service["status"] == "disabled":
        raise invalid("Service is disabled")
    key = wanted.get("incident_key")
    if key and any(
        i["incident_key"] == key
        and i["status"] != "resolved"
        and i["service"]["id"] == service["id"]
        for i in account.incidents.values()
    ):
        raise invalid("Open incident with matching dedup key already exists on this service")
    if service["policy_id"] is None:
        raise invalid("Service has no escalation policy")
    number = max((i["incident_number"] for i in account.incidents.values()), default=0) + 1
    incident_id = f"PNEW{number:03d}"
    inc = account.add_incident(
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
        _update_more(account, inc, {"priority": wanted["priority"]}, inc["created_at"])
    inc["last_status_change_by"] = account.user_ref(actor)
    account.without_alerts.add(incident_id)
    return JSONResponse({"incident": account.public(inc)}, status_code=201)


def snooze(account: Account, rec: RecordedRequest, incident_id: str) -> Response:
    actor = account.requester(rec)
    inc = open_incident(account, incident_id)
    if inc["status"] != "acknowledged":
        raise invalid("Incident must be acknowledged before it can be snoozed")
    until = datetime.now(UTC) + timedelta(seconds=(rec.json or {})["duration"])
    inc["pending_actions"] = [{"type": "unacknowledge", "at": timestamp(until)}]
    inc["updated_at"] = timestamp()
    inc["last_status_change_by"] = account.user_ref(actor)
    return JSONResponse({"incident": account.public(inc)}, status_code=201)


def merge(account: Account, rec: RecordedRequest, target_id: str) -> dict[str, Any]:
    account.requester(rec)
    target = account.incidents.get(target_id)
    if target is None:
        raise not_found()
    if target["status"] == "resolved":
        raise invalid("Open incidents cannot be merged into a resolved incident")
    source_ids = [s["id"] for s in (rec.json or {}).get("source_incidents", [])]
    for source_id in source_ids:
        if source_id not in account.incidents:
            raise invalid(f"Incident {source_id} not found")
        if source_id == target_id:
            raise invalid("Cannot merge an incident into itself")
        if source_id in account.without_alerts or target_id in account.without_alerts:
            raise invalid("Only incidents with alerts can be merged")
    now = timestamp()
    for source_id in source_ids:
        source = account.incidents[source_id]
        source.update(status="resolved", assignments=[], pending_actions=[], updated_at=now)
        source["resolve_reason"] = {
            "type": "merge_resolve_reason",
            "incident": account.ref("incident", target_id, target["summary"]),
        }
        account.merged_into[source_id] = target_id
    return {"incident": account.ref("incident", target_id, target["summary"])}


ENDPOINTS: tuple[Endpoint, ...] = (
    ("GET", "incidents", list_incidents),
    ("POST", "incidents", create_incident),
    ("PUT", "incidents", update_incidents),
    ("GET", "incidents/{}", get_incident),
    ("PUT", "incidents/{}", update_incident),
    ("POST", "incidents/{}/notes", create_note),
    ("POST", "incidents/{}/snooze", snooze),
    ("PUT", "incidents/{}/merge", merge),
)
