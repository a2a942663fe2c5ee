"""Bulk listing of open incidents, and the brief cache cards are drawn from (issue 15)."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from app.demo.pagerduty import PagerDutyStandIn
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.drawing_cache import DrawingCache
from tests.conftest import PAGERDUTY_TOKEN


@pytest.fixture
async def client(pagerduty: PagerDutyStandIn) -> AsyncIterator[PagerDutyClient]:
    client = PagerDutyClient(
        pagerduty.url,  # type: ignore[attr-defined]
        SecretStr(PAGERDUTY_TOKEN),
        backoff_seconds=0.01,
        requests_per_second=1000,
    )
    yield client
    await client.aclose()


def seed_incidents(pagerduty: PagerDutyStandIn, count: int, status: str = "triggered") -> None:
    start = 1000 + len(pagerduty.incidents)
    for number in range(start, start + count):
        pagerduty.add_incident(
            number,
            id=f"PINC{number}",
            title=f"disk full #{number}",
            service_id="PSVC001",
            policy_id="PEPOL01",
            status=status,
        )


async def test_open_incidents_are_listed_in_pages_of_100_with_the_open_statuses(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    seed_incidents(pagerduty, 150)  # with #123: 151 triggered
    seed_incidents(pagerduty, 49, status="acknowledged")
    seed_incidents(pagerduty, 30, status="resolved")
    open_incidents = await client.list_open_incidents()
    assert len(open_incidents) == 200
    assert {i.status for i in open_incidents} == {"triggered", "acknowledged"}
    assert len({i.id for i in open_incidents}) == 200
    pages = pagerduty.requests_to("GET", "/incidents")
    assert [p.query["offset"] for p in pages] == [["0"], ["100"]]
    assert all(p.query["limit"] == ["100"] for p in pages)
    assert all(p.query["statuses[]"] == ["triggered", "acknowledged"] for p in pages)


async def test_no_open_incidents_is_one_request_and_an_empty_list(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.incidents["PT4KHLK"]["status"] = "resolved"
    assert await client.list_open_incidents() == []
    assert len(pagerduty.requests_to("GET", "/incidents")) == 1


async def test_a_storm_drawing_one_policy_reads_it_and_its_oncalls_once(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    cache = DrawingCache(client)
    answers = await asyncio.gather(
        *(cache.escalation_policy("PEPOL01") for _ in range(50)),
        *(cache.oncalls("PEPOL01") for _ in range(50)),
    )
    assert answers[0].id == "PEPOL01"
    assert [o.user.id for o in answers[50]] == ["PALICE1", "PBOB002", "PCAROL3"]
    assert len(pagerduty.requests_to("GET", "/escalation_policies/PEPOL01")) == 1
    assert len(pagerduty.requests_to("GET", "/oncalls")) == 1


async def test_drawing_reads_again_after_the_ttl_and_an_action_reads_fresh_meanwhile(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    now = [0.0]
    cache = DrawingCache(client, ttl=60, timer=lambda: now[0])
    assert (await cache.oncalls("PEPOL01"))[0].user.id == "PALICE1"
    pagerduty.set_oncall("PEPOL01", 1, ["PBOB002"])
    now[0] = 30
    assert (await cache.oncalls("PEPOL01"))[0].user.id == "PALICE1"  # kept
    fresh = await client.list_oncalls("PEPOL01")  # what escalate does: straight to PagerDuty
    assert fresh[0].user.id == "PBOB002"
    now[0] = 61
    assert (await cache.oncalls("PEPOL01"))[0].user.id == "PBOB002"
    assert len(pagerduty.requests_to("GET", "/oncalls")) == 3


async def test_an_actions_fresh_answer_replaces_what_drawing_keeps(
    client: PagerDutyClient, pagerduty: PagerDutyStandIn
) -> None:
    cache = DrawingCache(client)
    await cache.oncalls("PEPOL01")
    await cache.escalation_policy("PEPOL01")
    pagerduty.set_oncall("PEPOL01", 1, ["PCAROL3"])
    cache.remember_oncalls("PEPOL01", await client.list_oncalls("PEPOL01"))
    assert (await cache.oncalls("PEPOL01"))[0].user.id == "PCAROL3"
    cache.forget("PEPOL01")
    await cache.escalation_policy("PEPOL01")
    assert len(pagerduty.requests_to("GET", "/escalation_policies/PEPOL01")) == 2
