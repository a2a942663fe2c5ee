"""The models read PagerDuty's own documented answers (the spec's response examples), not
only what our stand-in sends."""

import json
from typing import Any

import pytest

from app.pagerduty.models import (
    Incident,
    OnCall,
    Priority,
    ResponderRequest,
    Service,
    StatusUpdate,
)
from tests.standins.contracts import CONTRACTS_DIR


def documented_answer(path: str, method: str, status: str) -> dict[str, Any]:
    spec_file = CONTRACTS_DIR / "pagerduty" / "rest-openapiv3.json" if CONTRACTS_DIR else None
    if spec_file is None or not spec_file.is_file():
        pytest.skip("PagerDuty's spec is not in ../shared/contracts")
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    response = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
    value: dict[str, Any] = response["examples"]["response"]["value"]
    return value


def test_the_documented_priorities_read_as_priorities() -> None:
    answer = documented_answer("/priorities", "get", "200")
    priorities = [Priority.model_validate(p) for p in answer["priorities"]]
    assert [p.name for p in priorities][:2] == ["P1", "P2"]
    assert priorities[0].reference() == {"id": priorities[0].id, "type": "priority_reference"}


def test_a_documented_service_reads_with_its_status_and_policy() -> None:
    service = Service.model_validate(documented_answer("/services/{id}", "get", "200")["service"])
    assert service.status in {"active", "warning", "critical", "maintenance", "disabled"}
    assert service.escalation_policy is not None


def test_documented_oncalls_read_with_schedule_and_end() -> None:
    oncalls = [
        OnCall.model_validate(o) for o in documented_answer("/oncalls", "get", "200")["oncalls"]
    ]
    assert oncalls
    assert all(o.escalation_level >= 1 for o in oncalls)
    assert any(o.schedule is not None and o.end is not None for o in oncalls)


def test_a_documented_responder_request_reads_its_unwrapped_targets() -> None:
    answer = documented_answer("/incidents/{id}/responder_requests", "post", "200")
    request = ResponderRequest.model_validate(answer["responder_request"])
    assert request.message
    assert request.targets
    assert all(t.id for t in request.targets)


def test_a_documented_status_update_reads_its_message() -> None:
    answer = documented_answer("/incidents/{id}/status_updates", "post", "200")
    assert StatusUpdate.model_validate(answer["status_update"]).message


def test_a_documented_new_incident_reads_as_an_incident() -> None:
    # (The spec's snooze example leaves out `title`, which every real incident has.)
    incident = Incident.model_validate(documented_answer("/incidents", "post", "201")["incident"])
    assert incident.incident_number > 0


def test_documented_bulk_answers_read_with_pending_actions() -> None:
    answer = documented_answer("/incidents", "put", "200")
    incidents = [Incident.model_validate(i) for i in answer["incidents"]]
    assert any(i.pending_actions for i in incidents)


def test_a_snooze_shows_only_on_an_acknowledged_incident() -> None:
    answer = documented_answer("/incidents", "put", "200")["incidents"][0]
    pending = [{"type": "unacknowledge", "at": "2030-01-01T10:00:00Z"}]
    acknowledged = Incident.model_validate(
        {**answer, "status": "acknowledged", "pending_actions": pending}
    )
    triggered = Incident.model_validate(
        {**answer, "status": "triggered", "pending_actions": pending}
    )
    assert acknowledged.snoozed_until is not None
    assert acknowledged.snoozed_until.isoformat() == "2030-01-01T10:00:00+00:00"
    assert triggered.snoozed_until is None
