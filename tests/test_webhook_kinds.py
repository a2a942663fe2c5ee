"""Every kind of `event.data` PagerDuty's v3 webhooks send (developer docs, "Event Data
Types"), signed and posted to /pagerduty/webhooks: the kinds that name an incident redraw
its card and say what happened in its thread; the rest are accepted and ignored."""

import asyncio
import json
import logging
import uuid
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from tests.conftest import Bot, cards_posted, posted_card
from tests.test_webhooks import INCIDENT_123, webhook

OCCURRED_AT = "2026-11-26T03:02:00.000Z"
MAEVE = {
    "html_url": "https://acme.pagerduty.com/users/PVMGSML",
    "id": "PVMGSML",
    "self": "https://api.pagerduty.com/users/PVMGSML",
    "summary": "Maeve",
    "type": "user_reference",
}


def incident_reference(incident_id: str = INCIDENT_123) -> dict[str, Any]:
    return {
        "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        "id": incident_id,
        "self": f"https://api.pagerduty.com/incidents/{incident_id}",
        "summary": "checkout API error rate high",
        "type": "incident_reference",
    }


def envelope(
    event_type: str,
    data: dict[str, Any],
    *,
    resource_type: str = "incident",
    agent: dict[str, Any] | None = None,
    occurred_at: str = OCCURRED_AT,
) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": f"01{uuid.uuid4().hex[:24].upper()}",
                "event_type": event_type,
                "resource_type": resource_type,
                "occurred_at": occurred_at,
                "agent": agent,
                "client": None,
                "data": data,
            }
        }
    ).encode()


BOB = {
    "html_url": "https://acme.pagerduty.com/users/PBOB002",
    "id": "PBOB002",
    "self": "https://api.pagerduty.com/users/PBOB002",
    "summary": "Bob Builder",
    "type": "user_reference",
}


def note_added(content: str) -> bytes:
    data = {
        "incident": incident_reference(),
        "id": "P2LA89X",  # the note's id: looking it up as an incident finds nothing
        "content": content,
        "trimmed": False,
        "type": "incident_note",
    }
    return envelope("incident.annotated", data, agent=BOB)


def status_update_published(
    message: str, *, update_id: str = "P2LA89Y", occurred_at: str = OCCURRED_AT
) -> bytes:
    data = {
        "incident": incident_reference(),
        "id": update_id,
        "message": message,
        "trimmed": False,
        "type": "incident_status_update",
    }
    return envelope("incident.status_update_published", data, agent=BOB, occurred_at=occurred_at)


def responder(event_type: str, state: str, *, agent: dict[str, Any]) -> bytes:
    data = {
        "incident": incident_reference(),
        "user": MAEVE,
        "escalation_policy": {
            "html_url": "https://acme.pagerduty.com/escalation_policies/PJFWPEP",
            "id": "PJFWPEP",
            "self": "https://api.pagerduty.com/escalation_policies/PJFWPEP",
            "summary": "The Policy",
            "type": "escalation_policy_reference",
        },
        "message": "Please help with checkout",
        "state": state,
        "type": "incident_responder",
    }
    return envelope(event_type, data, agent=agent)


async def card_for_123(bot: Bot, slack: SlackStandIn) -> dict[str, Any]:
    response = await bot.webhook(webhook("incident.triggered"))
    assert response.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    return posted_card(slack)


async def thread_lines(slack: SlackStandIn, card: dict[str, Any], count: int = 1) -> list[str]:
    def lines(s: SlackStandIn) -> list[str]:
        calls = s.calls_to("chat.postMessage")
        return [c.args["text"] for c in calls if c.args.get("thread_ts") == card["ts"]]

    await slack.wait_for(lambda s: len(lines(s)) >= count)
    return lines(slack)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            note_added("db failover <done> & verified"),
            "Bob Builder added a note (in PagerDuty): db failover &lt;done&gt; &amp; verified",
        ),
        (
            responder("incident.responder.added", "pending", agent=BOB),
            "Bob Builder asked for a responder (in PagerDuty): Maeve (pending)",
        ),
        (
            responder("incident.responder.replied", "joined", agent=MAEVE),
            "Maeve answered a request to respond (in PagerDuty): Maeve (joined)",
        ),
    ],
    ids=["incident_note", "responder_added", "responder_replied"],
)
async def test_an_event_about_an_incident_says_what_happened_in_its_cards_thread(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, body: bytes, line: str
) -> None:
    card = await card_for_123(bot, slack)

    response = await bot.webhook(body)

    assert response.status_code == 202
    assert await thread_lines(slack, card) == [line]
    # The card was read afresh and shows what it showed: its digest spares the redraw.
    assert slack.calls_to("chat.update") == []
    looked_up = [r.path for r in pagerduty.requests if r.method == "GET"]
    assert "/incidents/P2LA89X" not in looked_up  # the note's id is not an incident's


def status_update_line(update: dict[str, Any]) -> str:
    """The text of the card's "Latest update" line (chat.postMessage/update args)."""
    [line] = [b for b in update["blocks"] if b.get("block_id") == "incident_status_update"]
    return str(line["elements"][0]["text"])


async def test_a_status_update_published_in_pagerduty_shows_on_the_card_and_in_its_thread(
    bot: Bot, slack: SlackStandIn
) -> None:
    card = await card_for_123(bot, slack)

    await bot.webhook(status_update_published("A fix is <being> deployed"))

    assert await thread_lines(slack, card) == [
        "Bob Builder published a status update (in PagerDuty): A fix is &lt;being&gt; deployed"
    ]
    [redraw] = slack.calls_to("chat.update")
    assert redraw.args["ts"] == card["ts"]
    line = status_update_line(redraw.args)
    assert "A fix is &lt;being&gt; deployed" in line
    # The docs' data carries no time: dated when the event occurred.
    assert "<!date^1795662120^{ago}|2026-11-26T03:02:00Z>" in line


async def test_an_older_status_update_arriving_late_does_not_replace_the_newer_one(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await card_for_123(bot, slack)
    await bot.webhook(status_update_published("Deployed; watching", update_id="PSTU002"))
    await thread_lines(slack, card)

    late = status_update_published(
        "Deploying a fix", update_id="PSTU001", occurred_at="2026-11-26T02:30:00.000Z"
    )
    await bot.webhook(late)
    pagerduty.incidents[INCIDENT_123]["urgency"] = "low"  # so the next event redraws it
    await bot.webhook(webhook("incident.priority_updated"))

    await thread_lines(slack, card, count=3)  # applied in order: the late one before this
    redraws = slack.calls_to("chat.update")
    assert len(redraws) == 2  # the late update changed nothing on the card
    assert "Deployed; watching" in status_update_line(redraws[-1].args)


async def test_a_long_note_is_quoted_in_part(bot: Bot, slack: SlackStandIn) -> None:
    card = await card_for_123(bot, slack)

    await bot.webhook(note_added("x" * 2000))

    [line] = await thread_lines(slack, card)
    assert line == "Bob Builder added a note (in PagerDuty): " + "x" * 500 + "…"


@pytest.mark.parametrize(
    "body",
    [
        envelope(
            "pagey.ping",
            {"message": "Hello from your friend Pagey!", "type": "ping"},
            resource_type="pagey",
        ),
        envelope(
            "service.updated",
            {
                "html_url": "https://acme.pagerduty.com/services/PSVC001",
                "id": "PSVC001",
                "self": "https://api.pagerduty.com/services/PSVC001",
                "summary": "Checkout API",
                "alert_creation": "create_alerts_and_incidents",
                "teams": [],
                "type": "service",
            },
            resource_type="service",
        ),
    ],
    ids=["pagey.ping", "service.updated"],
)
async def test_events_that_name_no_incident_are_accepted_and_change_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, body: bytes
) -> None:
    await card_for_123(bot, slack)
    calls_before, requests_before = len(slack.calls), len(pagerduty.requests)

    response = await bot.webhook(body)

    assert response.status_code == 202
    await asyncio.sleep(0.2)
    assert len(slack.calls) == calls_before
    assert len(pagerduty.requests) == requests_before


async def test_a_known_kind_without_its_incident_is_a_400(bot: Bot) -> None:
    body = envelope("incident.annotated", {"id": "P2LA89X", "type": "incident_note"})
    response = await bot.webhook(body)
    assert response.status_code == 400
    assert "data.incident" in response.text


async def test_a_legacy_v2_webhook_gets_a_clear_400_and_a_log_line(
    bot: Bot, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(
        {
            "messages": [
                {
                    "event": "incident.trigger",
                    "log_entries": [],
                    "webhook": {"endpoint_url": "https://bot.example.com/pagerduty/webhooks"},
                    "incident": {"id": INCIDENT_123, "incident_number": 123},
                    "id": "bb8b8fe0-e8d5-11e2-9c1e-22000afd16cf",
                    "created_on": "2026-11-26T03:00:00Z",
                }
            ]
        }
    ).encode()

    with caplog.at_level(logging.WARNING, logger="app.web"):
        response = await bot.webhook(body)

    assert response.status_code == 400
    assert "v2 webhook" in response.text
    assert "v3 webhook subscriptions" in response.text
    assert any("v2 webhook" in r.getMessage() for r in caplog.records)
    await asyncio.sleep(0.1)
    assert slack.calls_to("chat.postMessage") == []
