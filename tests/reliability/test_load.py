"""500 signed Slack requests, 50 at a time, against the in-process app while PagerDuty
takes 1 s to answer every request: every request is answered 200, and every intended
PagerDuty write is made exactly once (none lost, none doubled).

The mix: slash `note <n> load <i>` (a few on #123, to load its per-incident lock; the rest
on incidents of their own, since actions on one incident run one at a time by design),
Acknowledge clicks on fresh incidents' cards, and `@incident-bot note ...` mentions in
those cards' threads, each with its own event id.
"""

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from app.settings import Settings
from app.store import Store
from tests.conftest import Bot, running_bot
from tests.listeners.test_threads import mention

CONCURRENCY = 50
NOTES_ON_123 = 4
SLASH_NOTES = 200
CARD_INCIDENTS = 150  # each gets one click and one mention
USERS = ["U0ALICE01", "U0BOB0002", "U0CAROL03"]


def add_incidents(pagerduty: PagerDutyStandIn, prefix: str, first: int, count: int) -> list[int]:
    numbers = list(range(first, first + count))
    for number in numbers:
        pagerduty.add_incident(
            number,
            id=f"{prefix}{number:05d}",
            title=f"load incident {number}",
            service_id="PSVC001",
            policy_id="PEPOL01",
        )
    return numbers


def cards_by_incident(slack: SlackStandIn) -> dict[str, dict[str, Any]]:
    """Every posted card (chat.postMessage args plus the ts Slack gave it), by incident id."""
    ts_by_text = {
        m["text"]: m["ts"] for m in slack.messages.get("C0INCIDENTS", []) if "blocks" in m
    }
    cards = {}
    for call in slack.calls_to("chat.postMessage"):
        if "blocks" in call.args:
            card = dict(call.args)
            card["ts"] = ts_by_text[card["text"]]
            cards[card["metadata"]["event_payload"]["incident_id"]] = card
    return cards


async def bounded(
    jobs: list[Callable[[], Awaitable[httpx.Response]]], concurrency: int = CONCURRENCY
) -> list[httpx.Response]:
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def test_500_mixed_requests_at_concurrency_50_with_a_1_s_pagerduty_write_exactly_once(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slash_numbers = add_incidents(pagerduty, "PLOADN", 1000, SLASH_NOTES - NOTES_ON_123)
    card_numbers = add_incidents(pagerduty, "PLOADC", 3000, CARD_INCIDENTS)
    card_ids = [f"PLOADC{n:05d}" for n in card_numbers]
    # ~2,000 requests: checking each against the OpenAPI spec would make this a CPU
    # benchmark of openapi-core; every request shape here is spec-checked in other tests.
    pagerduty.validator = None

    # The bot's client waits longer than PagerDuty's 1 s: slowness, not failure, is tested.
    async with running_bot(settings, slack, timeout=30, attempts=4) as bot:
        await post_cards(bot, slack, card_numbers)
        cards = cards_by_incident(slack)
        assert sorted(cards) == sorted(card_ids)
        pagerduty.latency = 1.0

        jobs = plan(bot, slash_numbers, cards)
        responses = await bounded([job for job, _ in jobs])

        assert [r.status_code for r in responses] == [200] * len(responses)
        expected_notes = SLASH_NOTES + CARD_INCIDENTS
        await slack.wait_for(
            lambda _: note_count(pagerduty) >= expected_notes and acked(pagerduty) >= len(cards),
            timeout=55,
        )
        await asyncio.sleep(0.5)  # anything doubled would arrive now
        pagerduty.latency = 0.0

    texts = Counter(
        (incident_id, note["content"])
        for incident_id, notes in pagerduty.notes.items()
        for note in notes
    )
    wanted = Counter(
        [("PT4KHLK", f"load {i}") for i in range(NOTES_ON_123)]
        + [(f"PLOADN{n:05d}", f"load {n}") for n in slash_numbers]
        + [(incident_id, f"mention {incident_id}") for incident_id in card_ids]
    )
    assert texts == wanted  # each note once, on its incident; none lost
    note_posts = [r for r in pagerduty.writes if r.method == "POST"]
    assert len(note_posts) == expected_notes  # no POST was ever repeated

    acks = Counter(
        r.path.rsplit("/", 1)[1]
        for r in pagerduty.writes
        if r.method == "PUT" and r.json["incident"].get("status") == "acknowledged"
    )
    assert acks == Counter(card_ids)  # one acknowledgement PUT per clicked incident
    for incident_id in card_ids:
        assert len(pagerduty.incidents[incident_id]["acknowledgements"]) == 1
    assert pagerduty.reopened == []

    # The audit trail has every action, each once, all done.
    store = Store(settings.database_url)
    await store.open()
    entries = await store.audit(limit=10_000)
    await store.close()
    assert Counter((e.verb, e.outcome) for e in entries) == Counter(
        {
            ("note", "done"): expected_notes,
            ("ack", "done"): len(card_ids),
            ("show", "done"): len(card_ids),  # posting the cards, set-up, is audited too
        }
    )


async def post_cards(bot: Bot, slack: SlackStandIn, numbers: list[int]) -> None:
    # Set-up, not the load under test: a few at a time.
    responses = await bounded([lambda n=n: bot.command(f"show {n}") for n in numbers], 5)
    assert {r.status_code for r in responses} == {200}
    await slack.wait_for(lambda s: len(cards_by_incident(s)) == len(numbers), timeout=30)


Job = tuple[Callable[[], Awaitable[httpx.Response]], dict[str, Any] | None]


def plan(bot: Bot, slash_numbers: list[int], cards: dict[str, dict[str, Any]]) -> list[Job]:
    """Each request, with its Events API envelope when it is one (for Slack's retry)."""
    jobs: list[Job] = []
    for i in range(NOTES_ON_123):
        jobs.append((lambda i=i: bot.command(f"note 123 load {i}", user=USERS[i % 3]), None))
    for n in slash_numbers:
        jobs.append((lambda n=n: bot.command(f"note {n} load {n}", user=USERS[n % 3]), None))
    for k, (incident_id, card) in enumerate(cards.items()):
        user = USERS[k % 3]
        jobs.append((lambda c=card, u=user: bot.click(c, ActionId.ACKNOWLEDGE, user=u), None))
        envelope = mention(
            f"note mention {incident_id}",
            user=USERS[(k + 1) % 3],
            thread_ts=card["ts"],
            event_id=f"EvLOAD{k:05d}",
        )
        envelope["event"]["channel"] = card["channel"]
        envelope["event"]["ts"] = envelope["event"]["event_ts"] = f"{card['ts'][:-3]}{k:03d}"
        jobs.append((lambda e=envelope: bot.event(e), envelope))
    assert len(jobs) == 500
    random.Random(500).shuffle(jobs)
    return jobs


def note_count(pagerduty: PagerDutyStandIn) -> int:
    return sum(len(notes) for notes in pagerduty.notes.values())


def acked(pagerduty: PagerDutyStandIn) -> int:
    return sum(1 for i in pagerduty.incidents.values() if i["status"] == "acknowledged")
