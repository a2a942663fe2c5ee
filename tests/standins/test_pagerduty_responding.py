"""The PagerDuty stand-in's responder endpoints refuse what PagerDuty refuses, with
nothing applied, and still reject requests the spec forbids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.demo.pagerduty import (
    ACCEPT,
    PD_TEST_TOKEN,
    PagerDutyStandIn,
    seed_default,
    seed_responding,
)
from app.demo.server import serve_on_loopback
from tests.standins.spec import load_pagerduty_spec

HEADERS = {
    "Accept": ACCEPT,
    "Authorization": f"Token token={PD_TEST_TOKEN}",
    "Content-Type": "application/json",
    "From": "alice@example.com",
}


@pytest.fixture
def pd() -> PagerDutyStandIn:
    spec = load_pagerduty_spec()
    if spec is None:
        pytest.skip("shared PagerDuty spec not found")
    standin = PagerDutyStandIn(validator=spec)
    seed_default(standin)
    seed_responding(standin)
    return standin


@pytest.fixture
async def http(pd: PagerDutyStandIn) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve_on_loopback(pd.app) as base,
        httpx.AsyncClient(base_url=base, headers=HEADERS) as client,
    ):
        yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_a_priority_given_by_name_takes_the_most_severe_of_that_name(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    pd.add_priority("PPRIO09", "P1")  # a second, less severe "P1"
    body = {"incident": {"type": "incident_reference", "priority": "P1"}}
    response = await http.put("/incidents/PT4KHLK", json=body)
    assert response.status_code == 200
    assert response.json()["incident"]["priority"]["id"] == "PPRIO01"


async def test_a_priority_on_an_account_with_priorities_off_is_refused(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    pd.priorities_enabled = False
    body = {"incident": {"type": "incident_reference", "priority": "P1"}}
    response = await http.put("/incidents/PT4KHLK", json=body)
    assert response.status_code == 400
    assert pd.incidents["PT4KHLK"]["priority"] is None


async def test_a_resolved_incident_cannot_be_handed_to_another_policy(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    policy = {"id": "PEPOL02", "type": "escalation_policy_reference"}
    body = {"incident": {"type": "incident_reference", "escalation_policy": policy}}
    response = await http.put("/incidents/PRESOLV", json=body)
    assert response.status_code == 400
    assert pd.incidents["PRESOLV"]["escalation_policy"]["id"] == "PEPOL01"


async def test_the_bridge_is_sent_only_when_asked_for(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    bridge = {"conference_url": "https://meet.example.com/a"}
    body = {"incident": {"type": "incident_reference", "conference_bridge": bridge}}
    assert (await http.put("/incidents/PT4KHLK", json=body)).status_code == 200
    plain = (await http.get("/incidents/PT4KHLK")).json()["incident"]
    asked = await http.get("/incidents/PT4KHLK", params={"include[]": "conference_bridge"})
    assert "conference_bridge" not in plain
    assert asked.json()["incident"]["conference_bridge"] == bridge


async def test_more_than_250_incidents_in_one_put_is_413_and_changes_nothing(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    items = [{"id": "PT4KHLK", "type": "incident_reference", "status": "resolved"}] * 251
    response = await http.put("/incidents", json={"incidents": items})
    assert response.status_code == 413
    assert pd.incidents["PT4KHLK"]["status"] == "triggered"


async def test_merging_an_incident_into_itself_is_refused(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    body = {"source_incidents": [{"id": "PT4KHLK", "type": "incident_reference"}]}
    response = await http.put("/incidents/PT4KHLK/merge", json=body)
    assert response.status_code == 400
    assert pd.incidents["PT4KHLK"]["status"] == "triggered"


async def test_a_merge_refused_for_one_source_merges_none(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    pd.without_alerts.add("PPAY126")
    sources = [{"id": i, "type": "incident_reference"} for i in ("PQ2OLD0", "PPAY126")]
    response = await http.put("/incidents/PT4KHLK/merge", json={"source_incidents": sources})
    assert response.status_code == 400
    assert "alerts" in error_of(response)["errors"][0]
    assert pd.incidents["PQ2OLD0"]["status"] == "acknowledged"


async def test_a_responder_request_to_an_unknown_target_pages_nobody(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    targets = [
        {"responder_request_target": {"id": "PCAROL3", "type": "user_reference"}},
        {"responder_request_target": {"id": "PNOBODY", "type": "user_reference"}},
    ]
    body = {"requester_id": "PALICE1", "message": "help", "responder_request_targets": targets}
    response = await http.post("/incidents/PT4KHLK/responder_requests", json=body)
    assert response.status_code == 400
    assert "incidents_responders" not in pd.incidents["PT4KHLK"]


async def test_without_the_ability_a_responder_request_is_402(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    pd.responder_requests_enabled = False
    targets = [{"responder_request_target": {"id": "PCAROL3", "type": "user_reference"}}]
    body = {"requester_id": "PALICE1", "message": "help", "responder_request_targets": targets}
    response = await http.post("/incidents/PT4KHLK/responder_requests", json=body)
    assert response.status_code == 402


async def test_a_snooze_longer_than_seven_days_breaks_the_spec(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    pd.incidents["PT4KHLK"]["status"] = "acknowledged"
    response = await http.post("/incidents/PT4KHLK/snooze", json={"duration": 604801})
    assert response.status_code == 400
    assert pd.spec_violations  # the bot must never send this
    assert pd.incidents["PT4KHLK"].get("pending_actions", []) == []


async def test_an_incident_without_a_service_breaks_the_spec(
    pd: PagerDutyStandIn, http: httpx.AsyncClient
) -> None:
    before = len(pd.incidents)
    response = await http.post("/incidents", json={"incident": {"type": "incident", "title": "x"}})
    assert response.status_code == 400
    assert pd.spec_violations
    assert len(pd.incidents) == before


async def test_incident_lists_page_with_more(pd: PagerDutyStandIn, http: httpx.AsyncClient) -> None:
    first = (await http.get("/incidents", params={"limit": 2, "offset": 0})).json()
    last = (await http.get("/incidents", params={"limit": 2, "offset": 2})).json()
    assert (len(first["incidents"]), first["more"]) == (2, True)
    assert (len(last["incidents"]), last["more"]) == (2, False)
