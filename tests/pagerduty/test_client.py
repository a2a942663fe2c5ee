"""The PagerDuty client against the stand-in: what it retries, how often, and what a
person is told when it gives up."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from app.demo.pagerduty import PagerDutyStandIn
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import (
    IncidentNotFound,
    PagerDutyMisconfigured,
    PagerDutyRejected,
    PagerDutyUnavailable,
)
from tests.conftest import PAGERDUTY_TOKEN

ALICE = "alice@example.com"


@pytest.fixture
async def client(pagerduty: PagerDutyStandIn) -> AsyncIterator[PagerDutyClient]:
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


async def test_get_incident_accepts_its_number(client: PagerDutyClient) -> None:
    incident = await client.get_incident("123")
    assert (incident.id, incident.incident_number, incident.status) == ("PT4KHLK", 123, "triggered")
    assert incident.assignee_ids == {"PALICE1"}


async def test_a_pool_opened_on_a_worker_thread_keeps_its_connections_alive(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    await client.open()
    await client.open()  # already open: nothing more
    incidents = [await client.get_incident("123") for _ in range(3)]
    incidents += await asyncio.gather(*(client.get_incident("123") for _ in range(2)))

    assert {i.id for i in incidents} == {"PT4KHLK"}
    peers = [r.peer for r in pagerduty.requests]
    assert len(set(peers[:3])) == 1  # kept alive
    assert len(set(peers)) == 2  # two at once: one more connection


async def test_unknown_incident_raises_incident_not_found(client: PagerDutyClient) -> None:
    with pytest.raises(IncidentNotFound, match="no incident `999`"):
        await client.get_incident("999")


async def test_user_lookup_takes_only_an_exact_case_insensitive_match(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    user = await client.find_user_by_email("ALICE@example.com")
    assert user is not None
    assert user.id == "PALICE1"
    # The query for "lice@example.com" returns Alice and Mallory: neither is that address.
    assert await client.find_user_by_email("lice@example.com") is None


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_transient_failures_are_retried_then_succeed(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn, status: int
) -> None:
    pagerduty.fail_next("GET", "/incidents", status, times=2)
    incident = await client.get_incident("PT4KHLK")
    assert incident.id == "PT4KHLK"
    assert len(pagerduty.requests_to("GET", "/incidents/PT4KHLK")) == 3


async def test_rate_limit_waits_for_ratelimit_reset(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/incidents", 429, headers={"ratelimit-reset": "1"})
    started = time.monotonic()
    await client.get_incident("PT4KHLK")
    # A lower bound only: the client must not come back before PagerDuty's window resets.
    assert time.monotonic() - started >= 0.95


async def test_rate_limit_without_ratelimit_reset_still_backs_off_and_retries(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/incidents", 429, times=2)
    await client.get_incident("PT4KHLK")
    assert len(pagerduty.requests_to("GET", "/incidents/PT4KHLK")) == 3


async def test_retries_are_bounded(client: PagerDutyClient, pagerduty: PagerDutyStandIn) -> None:
    pagerduty.fail_next("GET", "/incidents", 503, times=100)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.get_incident("PT4KHLK")
    assert error.value.may_have_landed is False
    assert "nothing was changed" in error.value.message
    assert len(pagerduty.requests) == 3


async def test_a_30_s_hang_is_cut_by_the_timeout_and_bounded(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/incidents", 200, hang=30, times=3)
    with pytest.raises(PagerDutyUnavailable):
        await client.get_incident("PT4KHLK")
    assert len(pagerduty.requests) == 3


async def test_connection_refused_means_nothing_was_sent() -> None:
    client = PagerDutyClient("http://127.0.0.1:9", SecretStr("x"), attempts=2, backoff_seconds=0.01)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.update_incident("PT4KHLK", ALICE, status="acknowledged")
    assert error.value.may_have_landed is False
    await client.aclose()


async def test_a_dropped_connection_during_a_write_may_have_landed(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("PUT", "/incidents", 200, close_connection=True, times=5)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.update_incident("PT4KHLK", ALICE, status="acknowledged")
    assert error.value.may_have_landed is True
    assert "may or may not" in error.value.message


async def test_a_bad_request_is_not_retried_and_shows_pagerdutys_reason(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    with pytest.raises(PagerDutyRejected) as error:
        await client.update_incident("PT4KHLK", ALICE, escalation_level=9)
    assert "Invalid Input Provided" in error.value.message
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize(
    ("errors", "shown"),
    [
        (["Requester User Not Found"], "(Requester User Not Found)"),
        ({"status": ["is not allowed", "is wrong"]}, "(status: is not allowed; is wrong)"),
        (None, "Invalid Input Provided"),
    ],
)
async def test_both_pagerduty_error_formats_are_read(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn, errors: object, shown: str
) -> None:
    error_body: dict[str, object] = {"code": 2001, "message": "Invalid Input Provided"}
    if errors is not None:
        error_body["errors"] = errors
    pagerduty.fail_next("PUT", "/incidents", 400, body={"error": error_body})
    with pytest.raises(PagerDutyRejected) as error:
        await client.update_incident("PT4KHLK", ALICE, status="acknowledged")
    assert shown in error.value.message


async def test_pagerdutys_reason_is_escaped_for_slack(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    body = {"error": {"code": 2001, "message": "Bad <!channel> & co"}}
    pagerduty.fail_next("PUT", "/incidents", 400, body=body)
    with pytest.raises(PagerDutyRejected) as error:
        await client.update_incident("PT4KHLK", ALICE, status="acknowledged")
    assert "Bad &lt;!channel&gt; &amp; co" in error.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_credentials_refused_are_a_configuration_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn, status: int
) -> None:
    pagerduty.fail_next("GET", "/incidents", status)
    with pytest.raises(PagerDutyMisconfigured):
        await client.get_incident("PT4KHLK")
    assert len(pagerduty.requests) == 1


async def test_malformed_json_on_success_is_not_trusted(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("PUT", "/incidents", 200, body="{not json")
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.update_incident("PT4KHLK", ALICE, status="acknowledged")
    assert error.value.may_have_landed is True


async def test_a_note_is_never_posted_twice_after_a_server_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("POST", "/incidents", 500, times=5)
    with pytest.raises(PagerDutyUnavailable) as error:
        await client.add_note("PT4KHLK", ALICE, "restarted")
    assert error.value.may_have_landed is True
    assert len(pagerduty.writes) == 1


async def test_a_rate_limited_note_is_retried_because_it_was_not_taken(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("POST", "/incidents", 429)
    note = await client.add_note("PT4KHLK", ALICE, "restarted")
    assert note.content == "restarted"
    assert len(pagerduty.writes) == 2
    assert [n["content"] for n in pagerduty.notes["PT4KHLK"]] == ["restarted"]


async def test_the_key_never_appears_in_an_error(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/incidents", 401)
    with pytest.raises(PagerDutyMisconfigured) as error:
        await client.get_incident("PT4KHLK")
    assert PAGERDUTY_TOKEN not in str(error.value)
    assert PAGERDUTY_TOKEN not in error.value.detail


async def test_a_storm_of_requests_queues_under_the_rate_budget(
    pagerduty: PagerDutyStandIn,
) -> None:
    client = PagerDutyClient(
        pagerduty.url,  # type: ignore[attr-defined]
        SecretStr(PAGERDUTY_TOKEN),
        requests_per_second=20,
    )
    started = time.monotonic()
    await asyncio.gather(*(client.get_incident("PT4KHLK") for _ in range(60)))
    # A lower bound only: 60 requests at 20/s cannot all be sent in under 2 s, and none
    # was refused, because none went over PagerDuty's limit.
    assert time.monotonic() - started >= 1.9
    assert all(r.status == 200 for r in pagerduty.requests)
    await client.aclose()


async def test_background_work_cannot_take_the_whole_budget_from_a_person(
    pagerduty: PagerDutyStandIn,
) -> None:
    client = PagerDutyClient(
        pagerduty.url,  # type: ignore[attr-defined]
        SecretStr(PAGERDUTY_TOKEN),
        requests_per_second=30,
        background_share=0.1,  # 3/s for background work
    )

    background = client.background()

    async def background_read() -> None:
        await background.get_incident("PT4KHLK")

    backlog = [asyncio.create_task(background_read()) for _ in range(20)]
    await asyncio.sleep(0.1)
    await client.get_incident("123")  # a person's click, behind 20 queued background reads
    order = [r.path for r in pagerduty.requests]
    assert order.index("/incidents/123") < 8  # it overtook most of the background queue
    await asyncio.gather(*backlog)
    await client.aclose()
