"""Hostile input that passes Slack's signature check: a message dressed up as a card, ids
that are paths, and captured requests posted again. Each is refused (or ignored) before
anything reaches PagerDuty. (People of another organisation: test_slack_connect.py.)"""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from app.blocks.card import CardState
from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import signed_headers
from app.demo.slack import SlackStandIn
from app.ids import CARD_METADATA_EVENT, ActionId, BlockId, InputActionId, Shortcut
from app.settings import Settings
from app.store import Store
from tests.conftest import (
    CARD_TS,
    SIGNING_SECRET,
    Bot,
    running_bot,
    show_card,
)
from tests.listeners.test_slack_connect import command_from
from tests.listeners.test_threads import mention, shortcut_payload, thread_replies

FAKE_CARD = {"event_type": CARD_METADATA_EVENT, "event_payload": {"incident_id": "PT4KHLK"}}


def ephemerals(slack: SlackStandIn) -> list[str]:
    return [str(call.args["text"]) for call in slack.calls_to("chat.postEphemeral")]


def incident_reads(pagerduty: PagerDutyStandIn) -> list[str]:
    return [r.path for r in pagerduty.requests if r.path.startswith("/incidents")]


# --- a message is a card only if the bot posted it ----------------------------------------


@pytest.mark.parametrize(
    ("author", "bot_id"),
    [("U0MALLORY", None), ("U0OTHERAPP", "B0OTHERAPP")],
    ids=["a person", "another app"],
)
async def test_a_mention_under_a_message_with_card_metadata_that_the_bot_did_not_post_acts_on_nothing(  # noqa: E501
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    author: str,
    bot_id: str | None,
) -> None:
    slack.add_message(
        "C0INCIDENTS", CARD_TS, "Incident #123", metadata=FAKE_CARD, user=author, bot_id=bot_id
    )

    await bot.event(mention("ack"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    [answer] = ephemerals(slack)
    assert "incident" in answer.lower()
    assert pagerduty.writes == []
    assert incident_reads(pagerduty) == []


async def test_the_bots_own_identity_is_asked_of_slack_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    other_card = "1678252299.000000"
    slack.add_message("C0INCIDENTS", other_card, "Incident #123", metadata=FAKE_CARD)

    await bot.event(mention("ack", event_id="Ev1"))
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    asked = len(slack.calls_to("auth.test"))  # Bolt asks once for itself too
    await bot.event(mention("note db back", thread_ts=other_card, event_id="Ev2"))
    await slack.wait_for(lambda s: len(thread_replies(s)) == 3)  # in both cards' threads

    assert len(slack.calls_to("auth.test")) == asked
    assert [w.path for w in pagerduty.writes] == ["/incidents/PT4KHLK", "/incidents/PT4KHLK/notes"]


async def test_the_escalate_shortcut_on_a_persons_look_alike_card_says_it_is_not_an_incident_thread(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.add_message(
        "C0INCIDENTS", CARD_TS, "Incident #123", metadata=FAKE_CARD, user="U0MAL", bot_id=None
    )

    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))

    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = slack.calls_to("views.update")[0].args["view"]
    assert view["title"]["text"] == "Not an incident thread"
    assert incident_reads(pagerduty) == []


# --- ids from metadata, button values and private_metadata --------------------------------


async def test_a_card_whose_metadata_names_a_path_never_reaches_pagerduty(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    metadata = {"event_type": CARD_METADATA_EVENT, "event_payload": {"incident_id": "../abilities"}}
    slack.add_message("C0INCIDENTS", CARD_TS, "Incident #123", metadata=metadata)

    await bot.interact(shortcut_payload(Shortcut.ADD_NOTE, bot))

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "not in an incident card's thread" in slack.responses[0]["text"]
    assert [r.path for r in pagerduty.requests if "abilities" in r.path] == []
    assert pagerduty.writes == []


@pytest.mark.parametrize("incident_id", ["abilities", "pt4khlk", "PT4"])
async def test_a_button_value_whose_id_is_not_an_incident_id_is_refused_before_pagerduty(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, incident_id: str
) -> None:
    card = await show_card(bot, slack)
    value = json.dumps({"incident_id": incident_id, "status": "triggered", "level": 1})
    for block in card["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == ActionId.ACKNOWLEDGE:
                element["value"] = value
    before = len(pagerduty.requests)

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "too old to act on" in slack.responses[0]["text"]
    assert pagerduty.requests[before:] == []


def test_a_card_state_holds_only_incident_ids() -> None:
    for bad in ("abilities", "../abilities", "PT4KHLK/notes", "pt4khlk"):
        value = json.dumps({"incident_id": bad, "status": "triggered", "level": 1})
        with pytest.raises(ValueError, match="incident_id"):
            CardState.from_value(value)
    assert CardState.from_value(CardState("PT4KHLK", "triggered", 1).to_value()).level == 1


async def test_an_escalate_form_whose_private_metadata_names_a_path_is_refused_in_the_form(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = dict(slack.calls_to("views.update")[0].args["view"])
    forged = {"incident_id": "../abilities", "channel": "C0INCIDENTS", "thread": CARD_TS}
    view["private_metadata"] = json.dumps(forged)
    before = len(pagerduty.requests)

    response = await bot.submit(
        view, {BlockId.LEVEL: {InputActionId.LEVEL: {"type": "plain_text_input", "value": "2"}}}
    )

    assert response.json()["response_action"] == "errors"
    assert "not one I can act on" in response.json()["errors"][BlockId.LEVEL]
    await asyncio.sleep(0.1)
    assert pagerduty.requests[before:] == []


# --- the escalate shortcut where the policy excludes the channel ---------------------------


async def test_the_escalate_shortcut_in_an_excluded_channel_reads_nothing_and_says_why_in_the_modal(
    settings: Settings,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    card_thread: None,
    tmp_path: Path,
    audit: Store,
) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("channels: [C0ELSEWHERE]\n")
    async with running_bot(settings.model_copy(update={"policy_file": policy}), slack) as bot:
        await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))

        await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
        view = slack.calls_to("views.update")[0].args["view"]
        assert view["title"]["text"] == "Can't escalate"
        assert "act only in <#C0ELSEWHERE>" in view["blocks"][0]["text"]["text"]
        assert "Looking up" not in json.dumps(view)
        assert pagerduty.requests == []
        assert ephemerals(slack) == []  # said once, in the modal
        assert slack.responses == []
    [entry] = await audit.audit()
    assert (entry.verb, entry.outcome) == ("escalate", "refused")
    assert entry.detail == "NotAllowed (channels)"


async def test_the_escalate_shortcut_for_an_unmapped_person_reads_no_incident(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot, user="U0NOPD001"))

    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = slack.calls_to("views.update")[0].args["view"]
    assert view["title"]["text"] == "Can't escalate"
    assert incident_reads(pagerduty) == []


# --- replayed requests ---------------------------------------------------------------------


async def test_a_captured_command_posted_three_times_makes_one_note(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    body, headers = command_from(bot, "note 123 once only")

    statuses = [
        (await bot.http.post("/slack/events", content=body, headers=headers)).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 200]
    await slack.wait_for(lambda s: len(s.responses) == 1)
    await asyncio.sleep(0.2)
    assert len(slack.responses) == 1
    assert [w.path for w in pagerduty.writes] == ["/incidents/PT4KHLK/notes"]


async def test_a_captured_button_click_posted_again_acts_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    captured: list[bytes] = []
    original = bot.http.post

    async def capture(url: str, **kwargs: Any) -> Any:
        captured.append(kwargs["content"])
        return await original(url, **kwargs)

    bot.http.post = capture  # type: ignore[method-assign]
    await bot.click(card, ActionId.ACKNOWLEDGE)
    bot.http.post = original  # type: ignore[method-assign]
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)

    [body] = captured
    headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    replays = [
        (await bot.http.post("/slack/events", content=body, headers=headers)).status_code
        for _ in range(2)
    ]

    assert replays == [200, 200]
    await asyncio.sleep(0.2)
    assert slack.responses == []  # not even "already acknowledged": the replay is dropped
    assert len(thread_replies(slack)) == 1
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["acknowledged"]


async def test_two_different_clicks_of_one_person_both_count(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    """Each real click has a trigger of its own: the second one is answered, not dropped."""
    card = await show_card(bot, slack)
    await bot.click(card, ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    await bot.click(card, ActionId.ACKNOWLEDGE)
    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "already" in slack.responses[0]["text"]
