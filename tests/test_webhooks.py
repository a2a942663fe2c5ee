"""PagerDuty v3 webhooks through the real app: signed deliveries in PagerDuty's envelope,
cards posted and redrawn from fresh reads, nothing lost and nothing done twice."""

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from app.settings import Settings
from tests.conftest import (
    WEBHOOK_SECRET,
    Bot,
    action_ids,
    cards_posted,
    posted_card,
    running_bot,
    store_held_elsewhere,
)

INCIDENT_123 = "PT4KHLK"


def webhook(
    event_type: str,
    *,
    incident_id: str = INCIDENT_123,
    event_id: str | None = None,
    agent: str = "Bob Builder",
    occurred_at: str = "2026-11-26T03:00:00.000Z",
    service: tuple[str, str] = ("PSVC001", "Checkout API"),
) -> bytes:
    """PagerDuty's v3 envelope; incident data says `number` and `assignees`."""
    envelope: dict[str, Any] = {
        "event": {
            "id": event_id or f"01{uuid.uuid4().hex[:24].upper()}",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": occurred_at,
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PBOB002",
                "id": "PBOB002",
                "self": "https://api.pagerduty.com/users/PBOB002",
                "summary": agent,
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "number": 123,
                "status": event_type.removeprefix("incident."),
                "incident_key": "abc",
                "created_at": "2026-11-26T02:59:00Z",
                "title": "checkout API error rate high",
                "service": {"id": service[0], "summary": service[1], "type": "service_reference"},
                "assignees": [
                    {"id": "PALICE1", "summary": "Alice Example", "type": "user_reference"}
                ],
                "escalation_policy": {"id": "PEPOL01", "type": "escalation_policy_reference"},
                "teams": [],
                "priority": None,
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }
    return json.dumps(envelope).encode()


async def test_a_triggered_incident_gets_a_card_in_its_services_channel(
    bot: Bot, slack: SlackStandIn
) -> None:
    response = await bot.webhook(webhook("incident.triggered"))

    assert response.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = cards_posted(slack)[0]
    assert card["channel"] == "C0CHECKOUT"
    assert card["metadata"]["event_payload"]["incident_id"] == INCIDENT_123
    assert ActionId.ACKNOWLEDGE in action_ids(card)


async def test_a_service_without_a_route_goes_to_the_default_channel(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_service("PSVC009", "Search")
    pagerduty.add_incident(
        200, id="PINC200", title="search slow", service_id="PSVC009", policy_id="PEPOL01"
    )
    await bot.webhook(
        webhook("incident.triggered", incident_id="PINC200", service=("PSVC009", "Search"))
    )
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    assert cards_posted(slack)[0]["channel"] == "C0INCIDENTS"


async def test_with_no_route_and_no_default_no_card_is_posted(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path
) -> None:
    routes = tmp_path / "only-search.yml"
    routes.write_text("services:\n  PSVC009: C0SEARCH\n")
    async with running_bot(
        settings.model_copy(update={"channel_routes_file": routes}), slack
    ) as bot:
        response = await bot.webhook(webhook("incident.triggered"))
        assert response.status_code == 202
        await asyncio.sleep(0.3)
    assert cards_posted(slack) == []


async def test_the_same_event_delivered_twice_posts_one_card(bot: Bot, slack: SlackStandIn) -> None:
    body = webhook("incident.triggered", event_id="01DUPLICATE0000000000000")
    first = await bot.webhook(body)
    second = await bot.webhook(body)

    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json() == {"status": "duplicate"}
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await asyncio.sleep(0.2)
    assert len(cards_posted(slack)) == 1


async def test_two_deliveries_of_one_trigger_with_new_ids_still_post_one_card(
    bot: Bot, slack: SlackStandIn
) -> None:
    await bot.webhook(webhook("incident.triggered"))
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await bot.webhook(webhook("incident.triggered"))
    # Events about one incident are applied in order: once this one's line is in the
    # thread, the second trigger has been applied too.
    await bot.webhook(webhook("incident.priority_updated"))
    await slack.wait_for(
        lambda s: any(c.args.get("thread_ts") for c in s.calls_to("chat.postMessage"))
    )
    assert len(cards_posted(slack)) == 1  # one card per incident per channel
    assert slack.calls_to("chat.update") == []  # it already showed the incident as it is


async def test_an_acknowledgement_in_pagerduty_redraws_the_card_and_says_who_in_its_thread(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    await bot.webhook(webhook("incident.triggered"))
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = posted_card(slack)
    pagerduty.incidents[INCIDENT_123]["status"] = "acknowledged"  # done in PagerDuty's app

    await bot.webhook(webhook("incident.acknowledged"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    update = slack.calls_to("chat.update")[0].args
    assert update["ts"] == card["ts"]
    assert ActionId.ACKNOWLEDGE not in action_ids(update)
    await slack.wait_for(
        lambda s: any(c.args.get("thread_ts") == card["ts"] for c in s.calls_to("chat.postMessage"))
    )
    [line] = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert line["text"] == "Bob Builder acknowledged (in PagerDuty)"


async def test_events_out_of_order_leave_the_card_at_pagerdutys_state(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    await bot.webhook(webhook("incident.triggered"))
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    pagerduty.incidents[INCIDENT_123]["status"] = "resolved"

    # The resolve arrives first, then the older acknowledgement.
    await bot.webhook(webhook("incident.resolved", occurred_at="2026-11-26T03:05:00Z"))
    await bot.webhook(webhook("incident.acknowledged", occurred_at="2026-11-26T03:01:00Z"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 1)
    await asyncio.sleep(0.3)
    for update in slack.calls_to("chat.update"):
        assert action_ids(update.args) == []  # every redraw shows it resolved


async def test_an_unknown_event_type_is_accepted_and_ignored(bot: Bot, slack: SlackStandIn) -> None:
    response = await bot.webhook(webhook("incident.workflow.started"))
    assert response.status_code == 202
    other = json.loads(webhook("service.updated"))
    other["event"]["resource_type"] = "service"
    response = await bot.webhook(json.dumps(other).encode())
    assert response.status_code == 202
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []


async def test_an_incident_deleted_in_pagerduty_marks_its_card_gone(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    await bot.webhook(webhook("incident.triggered"))
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    del pagerduty.incidents[INCIDENT_123]

    await bot.webhook(webhook("incident.resolved"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    assert "no longer in PagerDuty" in json.dumps(slack.calls_to("chat.update")[0].args["blocks"])


async def test_slack_failing_while_posting_retries_the_event_instead_of_dropping_it(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.fail_next("chat.postMessage", error="internal_error", status=500, times=2)

    await bot.webhook(webhook("incident.triggered"))

    await slack.wait_for(lambda s: len(cards_posted(s)) == 3)  # two failed, one posted
    assert cards_posted(slack)[-1]["channel"] == "C0CHECKOUT"


# --- refused deliveries: nothing stored, nothing posted ---------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "v1=",
        "v1=" + "0" * 64,
        "v0=abc",
        "sha256=" + "0" * 64,
    ],
)
async def test_a_missing_or_wrong_signature_is_refused(
    bot: Bot, slack: SlackStandIn, signature: str
) -> None:
    response = await bot.webhook(webhook("incident.triggered"), signature=signature)
    assert response.status_code == 401
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []


async def test_a_signature_from_another_secret_is_refused(bot: Bot, slack: SlackStandIn) -> None:
    response = await bot.webhook(webhook("incident.triggered"), secret="someone-elses-secret")
    assert response.status_code == 401


async def test_during_rotation_any_configured_secret_and_any_offered_signature_match(
    settings: Settings, slack: SlackStandIn
) -> None:
    import hashlib
    import hmac

    rotated = settings.model_copy(
        update={
            "pagerduty_webhook_secrets": settings.pagerduty_webhook_secrets.__class__(
                f"old-secret-1,{WEBHOOK_SECRET}"
            )
        }
    )
    body = webhook("incident.triggered")
    good = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    async with running_bot(rotated, slack) as bot:
        response = await bot.webhook(body, signature=f"v1={'f' * 64},v1={good}")
        assert response.status_code == 202
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)


async def test_a_tampered_body_is_refused(bot: Bot) -> None:
    import hashlib
    import hmac

    body = webhook("incident.triggered")
    signature = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = await bot.webhook(body.replace(b"PT4KHLK", b"PEVIL01"), signature=signature)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[]", b'{"event": {}}', b'{"event": {"id": "x", "event_type": "y"}}', b""],
)
async def test_a_malformed_body_is_a_400_and_stores_nothing(
    bot: Bot, slack: SlackStandIn, body: bytes
) -> None:
    response = await bot.webhook(body)
    assert response.status_code == 400
    await asyncio.sleep(0.1)
    assert slack.calls_to("chat.postMessage") == []


async def test_a_huge_body_is_a_413(bot: Bot) -> None:
    response = await bot.webhook(b"{" + b" " * (600 * 1024) + b"}")
    assert response.status_code == 413


async def test_when_the_store_is_unavailable_the_webhook_gets_a_503_so_pagerduty_retries(
    bot: Bot, settings: Settings, slack: SlackStandIn
) -> None:
    async with store_held_elsewhere(settings.database_url):
        response = await bot.webhook(webhook("incident.triggered"))
    assert response.status_code == 503

    retried = await bot.webhook(webhook("incident.triggered"))  # PagerDuty's retry
    assert retried.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)


# --- durability -----------------------------------------------------------------------


async def test_cards_drifted_while_the_bot_was_down_are_repaired_at_start(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(settings, slack) as bot:
        await bot.command("show 123")
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = posted_card(slack)
    pagerduty.incidents[INCIDENT_123]["status"] = "acknowledged"  # changed; no webhook came

    async with running_bot(settings, slack):
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    repaired = slack.calls_to("chat.update")[0].args
    assert repaired["ts"] == card["ts"]
    assert ActionId.ACKNOWLEDGE not in action_ids(repaired)


async def test_the_reconciler_repairs_a_drifted_card_every_interval(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    often = settings.model_copy(update={"reconcile_interval_seconds": 0.2})
    async with running_bot(often, slack) as bot:
        await bot.command("show 123")
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
        pagerduty.incidents[INCIDENT_123]["status"] = "acknowledged"  # no webhook comes

        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 1)
        assert ActionId.ACKNOWLEDGE not in action_ids(slack.calls_to("chat.update")[-1].args)


async def test_pagerdutys_echo_of_the_bots_own_action_adds_no_second_thread_line(
    bot: Bot, slack: SlackStandIn
) -> None:
    await bot.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = posted_card(slack)
    await bot.click(card, ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    await bot.webhook(webhook("incident.acknowledged", agent="Alice Example"))
    # Applied in order per incident: once the next event's line is there, the echo was seen.
    await bot.webhook(webhook("incident.priority_updated"))
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 3)

    lines = [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert lines == [
        "Alice Example acknowledged",
        "Bob Builder changed the priority (in PagerDuty)",
    ]
