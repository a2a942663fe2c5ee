"""Two replicas of the app on one PostgreSQL database (TEST_DATABASE_URL; skipped with a
reason where unset, always run by .ci/run): every effect happens once."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from app.settings import Settings
from tests.conftest import Bot, cards_posted, posted_card, postgres_schema, running_bot
from tests.test_webhooks import webhook


@pytest.fixture
async def shared_settings(settings: Settings) -> AsyncIterator[Settings]:
    async with postgres_schema() as url:
        yield settings.model_copy(update={"database_url": url})


@pytest.fixture
async def replicas(shared_settings: Settings, slack: SlackStandIn) -> AsyncIterator[list[Bot]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_bot(shared_settings, slack)) for _ in "ab"]


async def test_a_double_click_landing_on_two_replicas_escalates_once(
    replicas: list[Bot], slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    a, b = replicas
    await a.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = posted_card(slack)
    pagerduty.latency = 0.05  # both clicks in flight together

    responses = await asyncio.gather(
        a.click(card, ActionId.ESCALATE, user="U0ALICE01"),
        b.click(card, ActionId.ESCALATE, user="U0BOB0002"),
    )

    assert [r.status_code for r in responses] == [200, 200]
    await slack.wait_for(lambda s: len(s.responses) == 1)  # the second clicker is told
    assert "moved on to level 2" in slack.responses[0]["text"]
    [put] = pagerduty.writes
    assert put.json["incident"]["escalation_level"] == 2


async def test_many_clicks_across_replicas_still_act_once(
    replicas: list[Bot], slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    a, b = replicas
    await a.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    card = posted_card(slack)

    await asyncio.gather(
        *(bot.click(card, action) for bot in (a, b) for action in [ActionId.ACKNOWLEDGE] * 5)
    )

    await slack.wait_for(lambda s: len(s.responses) == 9)  # nine are told it's done already
    assert len(pagerduty.writes) == 1


async def test_a_webhook_delivered_to_both_replicas_posts_one_card(
    replicas: list[Bot], slack: SlackStandIn
) -> None:
    body = webhook("incident.triggered", event_id="01REPLICATED00000000000000")
    responses = await asyncio.gather(*(bot.webhook(body) for bot in replicas))

    assert sorted(r.status_code for r in responses) == [200, 202]
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await asyncio.sleep(0.3)
    assert len(cards_posted(slack)) == 1


async def test_the_reconciler_runs_on_one_replica_at_a_time(
    shared_settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(shared_settings, slack) as bot:
        await bot.command("show 123")
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    pagerduty.incidents["PT4KHLK"]["status"] = "acknowledged"  # drifted while all were down

    async with AsyncExitStack() as stack:
        await asyncio.gather(
            *(stack.enter_async_context(running_bot(shared_settings, slack)) for _ in "ab")
        )
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 1)
        await asyncio.sleep(0.3)

    assert len(slack.calls_to("chat.update")) == 1  # one replica reconciled, the other skipped


async def test_the_webhook_of_an_action_taken_on_the_other_replica_adds_no_second_line(
    replicas: list[Bot], slack: SlackStandIn
) -> None:
    a, b = replicas
    await a.command("show 123")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await a.click(posted_card(slack), ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    await b.webhook(webhook("incident.acknowledged", agent="Alice Example"))
    # Events about one incident are applied in order: this one's line comes after the echo's.
    await b.webhook(webhook("incident.priority_updated"))
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 3)

    lines = [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert lines == [
        "Alice Example acknowledged",
        "Bob Builder changed the priority (in PagerDuty)",
    ]


async def test_the_cards_last_action_survives_a_restart(
    shared_settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(shared_settings, slack) as bot:
        await bot.command("show 123")
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
        await bot.click(posted_card(slack), ActionId.ACKNOWLEDGE)
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    pagerduty.incidents["PT4KHLK"]["urgency"] = "low"  # changed while the bot was down

    async with running_bot(shared_settings, slack):
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 2)

    blocks = slack.calls_to("chat.update")[-1].args["blocks"]
    [last_action] = [b for b in blocks if b.get("block_id") == "incident_last_action"]
    assert "Alice Example acknowledged" in last_action["elements"][0]["text"]


def status_update_line(card: dict[str, Any]) -> str:
    [line] = [b for b in card["blocks"] if b.get("block_id") == "incident_status_update"]
    return str(line["elements"][0]["text"])


async def test_a_status_update_posted_on_one_replica_shows_on_the_others_card_and_after_restart(
    shared_settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(shared_settings, slack) as a, running_bot(shared_settings, slack) as b:
        await a.command("show 123")
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
        card = posted_card(slack)
        await a.reply_to("update 123 rolled back; errors falling")
        redraws = len(slack.calls_to("chat.update"))

        await b.click(card, ActionId.ACKNOWLEDGE)
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) > redraws)
        drawn_by_b = slack.calls_to("chat.update")[-1].args
        assert "rolled back; errors falling" in status_update_line(drawn_by_b)
    pagerduty.incidents["PT4KHLK"]["urgency"] = "low"  # changed while every replica was down
    redraws = len(slack.calls_to("chat.update"))

    async with running_bot(shared_settings, slack):
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) > redraws)

    drawn_after_restart = slack.calls_to("chat.update")[-1].args
    assert "rolled back; errors falling" in status_update_line(drawn_after_restart)
