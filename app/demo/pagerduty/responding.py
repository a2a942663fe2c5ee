"""Bringing people in on an incident: responder requests (and the paged person's answer) and
status updates to its subscribers."""

from __future__ import annotations

from typing import Any

from app.demo.pagerduty.account import Account
from app.demo.pagerduty.incidents import open_incident
from app.demo.pagerduty.wire import (
    Endpoint,
    PagerDutyError,
    RecordedRequest,
    invalid,
    not_found,
    timestamp,
)


def request_responders(account: Account, rec: RecordedRequest, incident_id: str) -> dict[str, Any]:
    if not account.responder_requests_enabled:
        raise PagerDutyError(402, 2012, "Account does not have the abilities to perform the action")
    inc = open_incident(account, incident_id)
    body = rec.json or {}
    requester_id = body.get("requester_id")
    if requester_id not in account.users:
        raise invalid("Requester not found")
    targets, user_ids = [], []
    for wrapped in body.get("responder_request_targets", []):
        target = wrapped.get("responder_request_target", {})
        if target.get("type") == "user_reference" and target.get("id") in account.users:
            user_ids.append(target["id"])
        elif (
            target.get("type") == "escalation_policy_reference"
            and target.get("id") in account.policies
        ):
            user_ids += account.policies[target["id"]]["levels"][0]
        else:
            raise invalid(f"Responder request target {target.get('id')} not found")
        targets.append({"responder_request_target": {"id": target["id"], "type": target["type"]}})
    now, incident_ref = timestamp(), account.ref("incident", incident_id, inc["summary"])
    responders = inc.setdefault("incidents_responders", [])
    for user_id in user_ids:
        responders.append(
            {
                "state": "pending",
                "user": account.user_ref(user_id),
                "incident": incident_ref,
                "requester": account.user_ref(requester_id),
                "message": body.get("message", ""),
                "requested_at": now,
                "updated_at": now,
            }
        )
    request = {
        "incident": incident_ref,
        "requester": account.user_ref(requester_id),
        "requested_at": now,
        "message": body.get("message", ""),
        "responder_request_targets": targets,
    }
    inc.setdefault("responder_requests", []).append(request)
    return {"responder_request": request}


def reply_to_responder_request(
    account: Account, incident_id: str, user_id: str, state: str
) -> None:
    """What the paged person does in PagerDuty: ``joined`` or ``declined``."""
    for responder in account.incidents[incident_id].get("incidents_responders", []):
        if responder["user"]["id"] == user_id:
            responder.update(state=state, updated_at=timestamp())


def create_status_update(
    account: Account, rec: RecordedRequest, incident_id: str
) -> dict[str, Any]:
    actor = account.requester(rec)
    if incident_id not in account.incidents:
        raise not_found()
    update = {
        "id": account.new_id("PSTU"),
        "message": (rec.json or {}).get("message", ""),
        "created_at": timestamp(),
        "sender": account.user_ref(actor),
    }
    account.status_updates.setdefault(incident_id, []).append(update)
    return {"status_update": update}


ENDPOINTS: tuple[Endpoint, ...] = (
    ("POST", "incidents/{}/responder_requests", request_responders),
    ("POST", "incidents/{}/status_updates", create_status_update),
)
