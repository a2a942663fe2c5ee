"""The client's responder calls against the stand-in, which checks each request against
PagerDuty's spec: what is sent, what comes back, and each refusal in words."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import (
    IncidentNotFound,
    MergeRefused,
    PagerDutyRejected,
    PagerDutyUnavailable,
    PrioritiesDisabled,
    ResponderRequestsUnavailable,
)
from app.pagerduty.models import Priority
from tests.conftest import PAGERDUTY_TOKEN

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
async def client(pagerduty: PagerDutyStandIn) -> AsyncIterator[PagerDutyClient]:
    seed_responding(pagerduty)
    client = PagerDutyClient(
        pagerduty.url,  # type: ignore[attr-defined]
        SecretStr(PAGERDUTY_TOKEN),
        timeout=0.5,
        attempts=3,
        backoff_seconds=0.01,
        max_wait_seconds=2.0,
    )
    yield client
    await client.aclose()


async def acknowledge(client: PagerDutyClient, incident_id: str = "PT4KHLK") -> None:
    await client.update_incident(incident_id, ALICE, status="acknowledged")


# --- priorities -------------------------------------------------------------------------------


async def test_priorities_come_most_severe_first(client: PagerDutyClient) -> None:
    priorities = await client.list_priorities()
    assert [p.name for p in priorities] == ["P1", "P2", "P3"]


async def test_an_account_with_priorities_off_says_so(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.priorities_enabled = False
    with pytest.raises(PrioritiesDisabled, match="turned off"):
        await client.list_priorities()


async def test_an_account_without_priorities_in_its_plan_says_the_same(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/priorities", 402)
    with pytest.raises(PrioritiesDisabled):
        await client.list_priorities()


async def test_setting_a_priority_sends_a_priority_reference(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    p2 = (await client.list_priorities())[1]
    incident = await client.set_priority("PT4KHLK", ALICE, p2)
    assert incident.priority is not None
    assert incident.priority.id == "PPRIO02"
    sent = pagerduty.requests_to("PUT", "/incidents/PT4KHLK")[0].json
    assert sent["incident"]["priority"] == {"id": "PPRIO02", "type": "priority_reference"}


async def test_a_priority_the_account_does_not_have_is_refused(client: PagerDutyClient) -> None:
    with pytest.raises(PagerDutyRejected, match="Priority not found"):
        await client.set_priority("PT4KHLK", ALICE, Priority(id="PGONE00", name="P9"))


# --- policies and services by name ------------------------------------------------------------


async def test_a_policy_name_matches_exactly_never_the_first_loose_hit(
    client: PagerDutyClient,
) -> None:
    found = await client.find_escalation_policies("checkout ESCALATION")
    assert [p.id for p in found] == ["PEPOL01"]
    assert [len(p.escalation_rules) for p in found] == [3]


async def test_two_policies_with_one_name_are_both_returned(client: PagerDutyClient) -> None:
    # "Platform v2" also answers the query for "platform"; it is not that name.
    found = await client.find_escalation_policies("Platform")
    assert sorted(p.id for p in found) == ["PEPOL03", "PEPOL04"]


async def test_a_policy_name_matching_nothing_finds_nothing(client: PagerDutyClient) -> None:
    assert await client.find_escalation_policies("Checkout") == []


async def test_name_lookups_read_every_page(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    for n in range(150):
        pagerduty.add_escalation_policy(f"PFILL{n:03d}", f"Search team {n}", [["PBOB002"]])
    pagerduty.add_escalation_policy("PLAST01", "Search", [["PBOB002"]])
    found = await client.find_escalation_policies("search")
    assert [p.id for p in found] == ["PLAST01"]
    offsets = [r.query["offset"] for r in pagerduty.requests_to("GET", "/escalation_policies")]
    assert offsets == [["0"], ["100"]]


async def test_a_service_resolves_to_its_escalation_policy(client: PagerDutyClient) -> None:
    [service] = await client.find_services("payments api")
    assert (service.id, service.disabled) == ("PSVC002", False)
    assert service.escalation_policy is not None
    assert service.escalation_policy.id == "PEPOL02"


async def test_a_disabled_service_is_found_and_says_it_is_disabled(
    client: PagerDutyClient,
) -> None:
    service = await client.get_service("PSVC003")
    assert (service.name, service.status, service.disabled) == (
        "Legacy billing",
        "disabled",
        True,
    )


async def test_an_unknown_service_id_is_a_sentence(client: PagerDutyClient) -> None:
    with pytest.raises(PagerDutyRejected, match="no service PNOPE00"):
        await client.get_service("PNOPE00")


# --- who is on call ---------------------------------------------------------------------------


async def test_oncalls_carry_the_schedule_and_when_the_shift_ends(
    client: PagerDutyClient,
) -> None:
    oncalls = await client.list_oncalls("PEPOL01")
    by_level = {o.escalation_level: o for o in oncalls}
    assert by_level[1].user.id == "PALICE1"
    assert by_level[1].schedule is not None
    assert by_level[1].schedule.summary == "Checkout primary"
    assert by_level[1].end == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert (by_level[3].schedule, by_level[3].end) == (None, None)  # named directly


# --- someone's incidents ----------------------------------------------------------------------


async def test_my_open_incidents_come_newest_first(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    mine = await client.list_incidents(user_ids=["PALICE1"], statuses=["triggered", "acknowledged"])
    assert [i.incident_number for i in mine] == [123, 124]  # 125 is resolved, 126 is Bob's
    query = pagerduty.requests_to("GET", "/incidents")[0].query
    assert query["user_ids[]"] == ["PALICE1"]
    assert query["statuses[]"] == ["triggered", "acknowledged"]
    assert query["sort_by"] == ["created_at:desc"]


async def test_a_long_list_is_read_page_by_page_up_to_the_cap(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    for n in range(230):
        pagerduty.add_incident(
            1000 + n, id=f"PBULK{n:03d}", title="noisy", service_id="PSVC001", policy_id="PEPOL01"
        )
    every = await client.list_incidents(user_ids=["PALICE1"], statuses=["triggered"])
    assert len(every) == 231
    assert len({i.id for i in every}) == 231
    some = await client.list_incidents(user_ids=["PALICE1"], at_most=20)
    assert len(some) == 20


# --- bulk updates -----------------------------------------------------------------------------


async def test_a_bulk_acknowledge_is_one_put_with_from(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    result = await client.update_incidents(
        ALICE, {"PT4KHLK": {"status": "acknowledged"}, "PPAY126": {"status": "acknowledged"}}
    )
    assert sorted(i.id for i in result.updated) == ["PPAY126", "PT4KHLK"]
    assert result.failed_ids == []
    [put] = pagerduty.requests_to("PUT", "/incidents")
    assert put.headers["from"] == ALICE
    assert pagerduty.incidents["PPAY126"]["status"] == "acknowledged"


async def test_a_partial_bulk_answer_names_the_incidents_that_failed(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.refuse_in_bulk.add("PPAY126")
    result = await client.update_incidents(
        ALICE, {"PT4KHLK": {"status": "acknowledged"}, "PPAY126": {"status": "acknowledged"}}
    )
    assert [i.id for i in result.updated] == ["PT4KHLK"]
    assert result.failed_ids == ["PPAY126"]
    assert pagerduty.incidents["PPAY126"]["status"] == "triggered"


async def test_more_than_250_incidents_go_in_batches_of_250(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    for n in range(300):
        pagerduty.add_incident(
            2000 + n, id=f"PMANY{n:03d}", title="storm", service_id="PSVC001", policy_id="PEPOL01"
        )
    changes = {f"PMANY{n:03d}": {"status": "acknowledged"} for n in range(300)}
    result = await client.update_incidents(ALICE, changes)
    assert len(result.updated) == 300
    assert [len(r.json["incidents"]) for r in pagerduty.requests_to("PUT", "/incidents")] == [
        250,
        50,
    ]


async def test_a_bulk_put_is_retried_after_a_server_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("PUT", "/incidents", 503)
    result = await client.update_incidents(ALICE, {"PT4KHLK": {"status": "acknowledged"}})
    assert result.failed_ids == []
    assert len(pagerduty.requests_to("PUT", "/incidents")) == 2


# --- one incident: policy, bridge -------------------------------------------------------------


async def test_reassigning_to_a_policy_starts_at_its_first_level(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await acknowledge(client)
    incident = await client.reassign_to_policy("PT4KHLK", ALICE, "PEPOL02")
    assert incident.escalation_policy.id == "PEPOL02"
    assert (incident.status, incident.assignee_ids) == ("triggered", {"PBOB002"})


async def test_the_bridge_is_set_and_read_back(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await client.set_conference_bridge(
        "PT4KHLK", ALICE, "https://meet.example.com/checkout", "+1 415-555-1212,,,,1234#"
    )
    incident = await client.get_incident("123")
    assert incident.conference_bridge is not None
    assert incident.conference_bridge.conference_url == "https://meet.example.com/checkout"
    assert incident.conference_bridge.conference_number == "+1 415-555-1212,,,,1234#"


async def test_a_bridge_without_a_number_sends_only_the_url(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await client.set_conference_bridge("PT4KHLK", ALICE, "https://meet.example.com/x")
    sent = pagerduty.requests_to("PUT", "/incidents/PT4KHLK")[0].json["incident"]
    assert sent["conference_bridge"] == {"conference_url": "https://meet.example.com/x"}


# --- snooze -----------------------------------------------------------------------------------


async def test_a_snoozed_incident_shows_when_the_snooze_ends(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await acknowledge(client)
    before = datetime.now(UTC).replace(microsecond=0)
    incident = await client.snooze("PT4KHLK", ALICE, 3600)
    assert incident.snoozed_until is not None
    assert before + timedelta(hours=1) <= incident.snoozed_until
    assert incident.snoozed_until <= datetime.now(UTC) + timedelta(hours=1)
    assert pagerduty.requests_to("POST", "/incidents/PT4KHLK/snooze")[0].json == {"duration": 3600}


async def test_a_triggered_incident_cannot_be_snoozed(client: PagerDutyClient) -> None:
    with pytest.raises(PagerDutyRejected, match="must be acknowledged"):
        await client.snooze("PT4KHLK", ALICE, 600)


async def test_a_new_status_ends_the_snooze(client: PagerDutyClient) -> None:
    await acknowledge(client)
    await client.snooze("PT4KHLK", ALICE, 600)
    await acknowledge(client)
    assert (await client.get_incident("PT4KHLK")).snoozed_until is None


@pytest.mark.parametrize("seconds", [0, -60, 7 * 24 * 3600 + 1])
async def test_a_snooze_outside_one_second_to_seven_days_is_never_sent(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn, seconds: int
) -> None:
    with pytest.raises(ValueError, match="1 to 604800 seconds"):
        await client.snooze("PT4KHLK", ALICE, seconds)
    assert pagerduty.writes == []


async def test_a_snooze_is_not_sent_twice_after_a_server_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await acknowledge(client)
    pagerduty.fail_next("POST", "/incidents/PT4KHLK/snooze", 502, times=5)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.snooze("PT4KHLK", ALICE, 600)
    assert error.value.may_have_landed is True
    assert len(pagerduty.requests_to("POST", "/incidents/PT4KHLK/snooze")) == 1


# --- merge ------------------------------------------------------------------------------------


async def test_merging_resolves_the_sources_into_the_target(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    target = await client.merge("PT4KHLK", ["PQ2OLD0", "PPAY126"], ALICE)
    assert target.id == "PT4KHLK"
    assert pagerduty.merged_into == {"PQ2OLD0": "PT4KHLK", "PPAY126": "PT4KHLK"}
    assert pagerduty.incidents["PQ2OLD0"]["status"] == "resolved"
    assert pagerduty.incidents["PT4KHLK"]["status"] == "triggered"


async def test_a_merge_into_a_resolved_incident_is_refused_in_words(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    with pytest.raises(MergeRefused, match="into an open incident") as error:
        await client.merge("PRESOLV", ["PT4KHLK"], ALICE)
    assert "resolved incident" in error.value.detail
    assert pagerduty.incidents["PT4KHLK"]["status"] == "triggered"


async def test_a_merge_of_an_incident_without_alerts_is_refused_in_words(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    made = await client.create_incident(ALICE, "made by hand", "PSVC001")
    with pytest.raises(MergeRefused, match="only merges incidents that have alerts"):
        await client.merge("PT4KHLK", [made.id], ALICE)
    assert pagerduty.merged_into == {}


async def test_merging_into_an_unknown_incident_is_incident_not_found(
    client: PagerDutyClient,
) -> None:
    with pytest.raises(IncidentNotFound):
        await client.merge("PGONE00", ["PT4KHLK"], ALICE)


async def test_a_merge_is_not_sent_again_once_it_may_have_landed(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("PUT", "/incidents/PT4KHLK/merge", 200, close_connection=True, times=3)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.merge("PT4KHLK", ["PQ2OLD0"], ALICE)
    assert error.value.may_have_landed is True
    assert len(pagerduty.requests_to("PUT", "/incidents/PT4KHLK/merge")) == 1


# --- responder requests -----------------------------------------------------------------------


async def test_a_responder_request_pages_users_and_policies_and_shows_them_pending(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    request = await client.create_responder_request(
        "PT4KHLK", ALICE, "PALICE1", "join the bridge", user_ids=["PCAROL3"], policy_ids=["PEPOL02"]
    )
    assert [(t.id, t.type) for t in request.targets] == [
        ("PCAROL3", "user_reference"),
        ("PEPOL02", "escalation_policy_reference"),
    ]
    assert request.message == "join the bridge"
    incident = await client.get_incident("PT4KHLK")
    assert [r.user.id for r in incident.pending_responders] == ["PCAROL3", "PBOB002"]
    sent = pagerduty.requests_to("POST", "/incidents/PT4KHLK/responder_requests")[0]
    assert sent.headers["from"] == ALICE


async def test_a_responder_who_joined_is_no_longer_pending(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await client.create_responder_request("PT4KHLK", ALICE, "PALICE1", "help", user_ids=["PCAROL3"])
    pagerduty.reply_to_responder_request("PT4KHLK", "PCAROL3", "joined")
    incident = await client.get_incident("PT4KHLK")
    assert incident.pending_responders == []
    assert [r.state for r in incident.incidents_responders] == ["joined"]


async def test_an_account_without_responder_requests_gets_a_sentence(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.responder_requests_enabled = False
    with pytest.raises(ResponderRequestsUnavailable, match="cannot add responders"):
        await client.create_responder_request(
            "PT4KHLK", ALICE, "PALICE1", "help", user_ids=["PCAROL3"]
        )


async def test_a_responder_request_without_targets_is_never_sent(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.create_responder_request("PT4KHLK", ALICE, "PALICE1", "help")
    assert pagerduty.writes == []


async def test_a_responder_request_is_not_sent_twice_after_a_timeout(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("POST", "/incidents/PT4KHLK/responder", 200, hang=5, times=3)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.create_responder_request(
            "PT4KHLK", ALICE, "PALICE1", "help", user_ids=["PCAROL3"]
        )
    assert error.value.may_have_landed is True
    assert len(pagerduty.writes) == 1


# --- status updates ---------------------------------------------------------------------------


async def test_a_status_update_is_posted_as_the_person(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    update = await client.create_status_update("PT4KHLK", ALICE, "rolled back; watching")
    assert update.message == "rolled back; watching"
    assert update.sender is not None
    assert update.sender.id == "PALICE1"
    assert [u["message"] for u in pagerduty.status_updates["PT4KHLK"]] == ["rolled back; watching"]


async def test_a_status_update_is_retried_when_rate_limited_because_it_was_not_taken(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("POST", "/incidents/PT4KHLK/status_updates", 429)
    await client.create_status_update("PT4KHLK", ALICE, "still on it")
    assert len(pagerduty.status_updates["PT4KHLK"]) == 1


async def test_a_status_update_on_an_unknown_incident_is_incident_not_found(
    client: PagerDutyClient,
) -> None:
    with pytest.raises(IncidentNotFound):
        await client.create_status_update("PGONE00", ALICE, "hello")


# --- create -----------------------------------------------------------------------------------


async def test_an_incident_is_opened_as_the_person_on_the_service(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    incident = await client.create_incident(
        BOB, "cart is empty for everyone", "PSVC001", urgency="low", priority_id="PPRIO01"
    )
    assert (incident.title, incident.urgency, incident.status) == (
        "cart is empty for everyone",
        "low",
        "triggered",
    )
    assert incident.priority is not None
    assert incident.priority.id == "PPRIO01"
    assert incident.assignee_ids == {"PALICE1"}  # level 1 of the service's policy
    assert pagerduty.requests_to("POST", "/incidents")[0].headers["from"] == BOB


async def test_a_disabled_service_refuses_a_new_incident(client: PagerDutyClient) -> None:
    with pytest.raises(PagerDutyRejected, match="disabled"):
        await client.create_incident(ALICE, "old billing broke", "PSVC003")


async def test_the_same_incident_key_opens_one_incident(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await client.create_incident(ALICE, "from a message", "PSVC001", incident_key="slack-1")
    with pytest.raises(PagerDutyRejected, match="dedup key"):
        await client.create_incident(ALICE, "from a message", "PSVC001", incident_key="slack-1")
    assert sum(i["incident_key"] == "slack-1" for i in pagerduty.incidents.values()) == 1


async def test_creating_is_not_sent_twice_after_a_server_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    before = len(pagerduty.incidents)
    pagerduty.fail_next("POST", "/incidents", 500, times=3)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.create_incident(ALICE, "x", "PSVC001")
    assert error.value.may_have_landed is True
    assert len(pagerduty.requests_to("POST", "/incidents")) == 1
    assert len(pagerduty.incidents) == before


@pytest.mark.parametrize(
    "title",
    ["  leading spaces", "line one\nline two", "<!channel> & co", "ünïcødé 🔥 title", "x" * 1024],
)
async def test_a_title_arrives_exactly_as_typed(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn, title: str
) -> None:
    incident = await client.create_incident(ALICE, title, "PSVC001")
    assert incident.title == title
    assert pagerduty.incidents[incident.id]["title"] == title
