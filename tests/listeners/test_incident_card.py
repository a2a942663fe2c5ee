"""Incident cards end to end: `/incident show`, then signed button clicks and modal
submissions through the real app, with the PagerDuty and Slack stand-ins."""

import asyncio
import json
from typing import Any

import pytest

from app.blocks.card import CardState
from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import ActionId, BlockId, CallbackId, InputActionId
from app.settings import Settings
from tests.conftest import (
    Bot,
    action_ids,
    running_bot,
    show_card,
    store_held_elsewhere,
    without_background_writes,
)

INCIDENT_123 = "PT4KHLK"


async def modal_from_card(bot: Bot, slack: SlackStandIn, button: ActionId) -> dict[str, Any]:
    """Show #123's card, click `button`, and return the modal it opened."""
    await bot.click(await show_card(bot, slack), button)
    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    return dict(slack.calls_to("views.open")[0].args["view"])


def last_update(slack: SlackStandIn) -> dict[str, Any]:
    return dict(slack.calls_to("chat.update")[-1].args)


async def test_show_posts_a_card_whose_buttons_and_metadata_hold_the_incident_id(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)

    assert card["channel"] == "C0INCIDENTS"
    assert card["metadata"]["event_payload"]["incident_id"] == INCIDENT_123
    assert action_ids(card) == [
        ActionId.ACKNOWLEDGE,
        ActionId.RESOLVE,
        ActionId.ESCALATE,
        ActionId.REASSIGN,
        ActionId.MORE,
    ]
    for block in card["blocks"]:
        for element in block.get("elements", []):
            if "value" in element:
                assert CardState.from_value(element["value"]).incident_id == INCIDENT_123
    assert pagerduty.writes == []


async def test_acknowledge_click_acks_redraws_the_card_and_says_so_in_its_thread(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)

    response = await bot.click(card, ActionId.ACKNOWLEDGE)

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 2)
    [put] = pagerduty.writes
    assert put.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert put.headers["from"] == "alice@example.com"
    update = last_update(slack)
    assert (update["channel"], update["ts"]) == (card["channel"], card["ts"])
    assert ActionId.ACKNOWLEDGE not in action_ids(update)
    thread_line = slack.calls_to("chat.postMessage")[-1].args
    assert thread_line["thread_ts"] == card["ts"]
    assert thread_line["text"].startswith("Alice Example acknowledged")


async def test_a_click_while_the_store_is_down_is_answered_in_words_and_does_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, settings: Settings
) -> None:
    card = await show_card(bot, slack)

    async with store_held_elsewhere(settings.database_url):
        response = await bot.click(card, ActionId.ACKNOWLEDGE)

    assert response.status_code == 200  # not a 500: Slack would show only a warning sign
    [told] = slack.responses
    assert told["response_type"] == "ephemeral"
    assert told["replace_original"] is False  # the card stays
    assert "cannot reach its database just now, so it did nothing" in told["text"]
    assert pagerduty.writes == []


async def test_a_modal_submitted_while_the_store_is_down_says_so_under_its_field(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, settings: Settings
) -> None:
    view = await modal_from_card(bot, slack, ActionId.RESOLVE)
    resolution = {InputActionId.RESOLUTION: {"type": "plain_text_input", "value": "rolled back"}}

    async with store_held_elsewhere(settings.database_url):
        response = await bot.submit(view, {BlockId.RESOLUTION: resolution})

    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "errors"  # the form stays, with what was typed
    assert (
        "cannot reach its database just now, so it did nothing"
        in (answer["errors"][BlockId.RESOLUTION])
    )
    assert pagerduty.writes == []


async def test_a_click_done_in_pagerduty_is_shown_done_though_the_store_then_fails(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(without_background_writes(settings), slack) as bot:
        card = await show_card(bot, slack)
        pagerduty.latency = 0.5
        await bot.click(card, ActionId.ACKNOWLEDGE)
        await slack.wait_for(lambda _: len(pagerduty.writes) == 1)  # the PUT is on its way
        async with store_held_elsewhere(settings.database_url):
            await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 2, timeout=30)

    assert ActionId.ACKNOWLEDGE not in action_ids(last_update(slack))  # the card redrawn
    thread_line = slack.calls_to("chat.postMessage")[-1].args
    assert thread_line["text"].startswith("Alice Example acknowledged")
    assert slack.responses == []  # nobody told "something went wrong"


async def test_acknowledge_click_on_an_incident_resolved_elsewhere_writes_nothing_and_refreshes(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    pagerduty.incidents[INCIDENT_123]["status"] = "resolved"  # resolved in PagerDuty's app

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1 and len(s.calls_to("chat.update")) == 1)
    assert pagerduty.writes == []
    assert pagerduty.reopened == []
    assert "already resolved" in slack.responses[0]["text"]
    assert slack.responses[0]["response_type"] == "ephemeral"
    assert action_ids(last_update(slack)) == []  # a resolved card has no buttons


async def test_two_simultaneous_escalate_clicks_escalate_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    pagerduty.latency = 0.05  # let both clicks be in flight together

    first, second = await asyncio.gather(
        bot.click(card, ActionId.ESCALATE, user="U0ALICE01"),
        bot.click(card, ActionId.ESCALATE, user="U0BOB0002"),
    )

    assert (first.status_code, second.status_code) == (200, 200)
    await slack.wait_for(lambda s: len(s.responses) == 1)
    [put] = pagerduty.writes
    assert put.json == {"incident": {"type": "incident_reference", "escalation_level": 2}}
    refusal = slack.responses[0]["text"]
    assert "moved on to level 2" in refusal
    assert "escalated to level 2" in refusal  # says who did it, through the bot


async def test_escalate_button_confirm_names_the_target_level(
    bot: Bot, slack: SlackStandIn
) -> None:
    card = await show_card(bot, slack)
    [escalate] = [
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ActionId.ESCALATE
    ]
    assert "level 2" in json.dumps(escalate["confirm"])


async def test_resolve_click_opens_a_modal_before_any_pagerduty_call(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    requests_before = len(pagerduty.requests)

    await bot.click(card, ActionId.RESOLVE)

    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    opened = slack.calls_to("views.open")[0].args
    assert opened["trigger_id"]
    assert opened["view"]["callback_id"] == CallbackId.RESOLVE_MODAL
    assert "*#123* checkout API error rate high" in json.dumps(opened["view"]["blocks"])
    assert len(pagerduty.requests) == requests_before


async def test_resolve_modal_resolves_with_the_note_and_redraws_the_card(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await modal_from_card(bot, slack, ActionId.RESOLVE)

    response = await bot.submit(
        view,
        {
            BlockId.RESOLUTION: {
                InputActionId.RESOLUTION: {"type": "plain_text_input", "value": "rolled back"}
            }
        },
    )

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    [put] = pagerduty.writes
    assert put.json["incident"] == {
        "type": "incident_reference",
        "status": "resolved",
        "resolution": "rolled back",
    }
    assert action_ids(last_update(slack)) == []


async def test_resolve_modal_with_a_note_too_long_gets_an_inline_error(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await modal_from_card(bot, slack, ActionId.RESOLVE)

    response = await bot.submit(
        view,
        {
            BlockId.RESOLUTION: {
                InputActionId.RESOLUTION: {"type": "plain_text_input", "value": "x" * 2001}
            }
        },
    )

    assert response.status_code == 200
    assert response.json() == {
        "response_action": "errors",
        "errors": {BlockId.RESOLUTION: "2001 characters; the limit is 2000."},
    }
    await asyncio.sleep(0.1)
    assert pagerduty.writes == []


async def test_reassign_modal_assigns_the_chosen_persons_pagerduty_user(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await modal_from_card(bot, slack, ActionId.REASSIGN)
    assert view["callback_id"] == CallbackId.REASSIGN_MODAL

    await bot.submit(
        view,
        {
            BlockId.ASSIGNEE: {
                InputActionId.ASSIGNEE: {"type": "users_select", "selected_user": "U0CAROL03"}
            }
        },
    )

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    [put] = pagerduty.writes
    assert put.json["incident"]["assignments"] == [
        {"assignee": {"id": "PCAROL3", "type": "user_reference"}}
    ]
    assert put.headers["from"] == "alice@example.com"


async def test_reassign_modal_to_an_unmapped_person_writes_nothing_and_says_why(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await modal_from_card(bot, slack, ActionId.REASSIGN)

    await bot.submit(
        view,
        {
            BlockId.ASSIGNEE: {
                InputActionId.ASSIGNEE: {"type": "users_select", "selected_user": "U0NOPD001"}
            }
        },
    )

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    ephemeral = slack.calls_to("chat.postEphemeral")[0].args
    assert ephemeral["user"] == "U0ALICE01"
    assert ephemeral["channel"] == "C0INCIDENTS"
    assert "matches no PagerDuty user" in ephemeral["text"]
    assert pagerduty.writes == []


async def test_a_click_by_an_unmapped_person_is_explained_and_writes_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)

    await bot.click(card, ActionId.ACKNOWLEDGE, user="U0NOPD001")

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "matches no PagerDuty user" in slack.responses[0]["text"]
    assert slack.responses[0]["response_type"] == "ephemeral"
    assert pagerduty.writes == []


async def test_a_card_whose_incident_was_deleted_says_so(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    del pagerduty.incidents[INCIDENT_123]  # merged or deleted in PagerDuty

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1 and len(s.calls_to("chat.update")) == 1)
    assert "PagerDuty has no incident" in slack.responses[0]["text"]
    gone = last_update(slack)
    assert action_ids(gone) == []
    assert "no longer in PagerDuty" in json.dumps(gone["blocks"])
    assert pagerduty.writes == []


@pytest.mark.parametrize(
    "failure",
    [
        {"error": "message_not_found"},
        {"error": "internal_error", "status": 500},
        {"error": "ratelimited", "status": 429, "headers": {"retry-after": "0"}, "times": 3},
    ],
)
async def test_when_slack_cannot_update_the_card_the_action_stands_and_the_clicker_is_told(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, failure: dict[str, Any]
) -> None:
    card = await show_card(bot, slack)
    slack.fail_next("chat.update", **failure)

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert len(pagerduty.writes) == 1
    assert pagerduty.incidents[INCIDENT_123]["status"] == "acknowledged"
    told = slack.responses[0]["text"]
    assert told.startswith("Done: Alice Example acknowledged")
    assert "would not update the card" in told


async def test_a_forged_click_is_rejected_and_nothing_happens(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    from app.demo.signing import interactivity_body, signed_headers

    card = await show_card(bot, slack)
    body = interactivity_body({"type": "block_actions", "actions": []})
    headers = signed_headers("wrong-secret", body, "application/x-www-form-urlencoded")
    response = await bot.http.post("/slack/events", content=body, headers=headers)

    assert response.status_code == 401
    assert action_ids(card)  # the card was fine; the request was not
    await asyncio.sleep(0.05)
    assert pagerduty.writes == []


async def test_a_command_on_an_incident_with_a_card_redraws_that_card(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)

    await bot.reply_to("ack 123", user="U0BOB0002")

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    assert last_update(slack)["ts"] == card["ts"]
    assert ActionId.ACKNOWLEDGE not in action_ids(last_update(slack))


async def test_show_of_an_unknown_incident_says_so_and_posts_nothing(
    bot: Bot, slack: SlackStandIn
) -> None:
    [reply] = await bot.reply_to("show 999")
    assert "PagerDuty has no incident `999`" in reply["text"]
    assert slack.calls_to("chat.postMessage") == []


async def test_show_where_the_bot_is_not_in_the_channel_says_how_to_invite_it(
    bot: Bot, slack: SlackStandIn
) -> None:
    slack.fail_next("chat.postMessage", error="not_in_channel")
    [reply] = await bot.reply_to("show 123")
    assert "/invite @incident-bot" in reply["text"]
