"""The card's More menu end to end: choosing an entry opens a modal at once, fills it in
from the incident as PagerDuty has it, and submitting it acts as the clicker through the
intake, once, however often it is submitted."""

import asyncio
from typing import Any

import httpx
import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.slack import SlackStandIn
from app.ids import ActionId, BlockId, CallbackId, InputActionId, MenuChoice
from tests.conftest import Bot, show_card
from tests.standins.contracts import load_slack_sample
from tests.test_incident_command import INCIDENT_123


@pytest.fixture(autouse=True)
def responding_world(pagerduty: PagerDutyStandIn) -> None:
    seed_responding(pagerduty)


async def choose(
    bot: Bot, card: dict[str, Any], choice: MenuChoice, *, user: str = "U0ALICE01"
) -> httpx.Response:
    """Pick an entry of a posted card's More menu, as Slack sends a static_select change."""
    [menu] = [
        element
        for block in card["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == ActionId.MORE
    ]
    [option] = [o for o in menu["options"] if o["value"].startswith(f"{choice}|")]
    payload = load_slack_sample("requests/block_actions.acknowledge_button.payload.json")
    payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0G9PQBBK"}
    payload["container"].update(channel_id=card["channel"], message_ts=card["ts"])
    payload["channel"]["id"] = card["channel"]
    payload["message"].update(text=card["text"], ts=card["ts"], blocks=card["blocks"])
    payload["response_url"] = f"{bot.slack.url}/hooks/actions/T0G9PQBBK/1/{user}"  # type: ignore[attr-defined]
    payload["actions"] = [
        {
            "type": "static_select",
            "action_id": ActionId.MORE.value,
            "block_id": "incident_actions",
            "selected_option": option,
            "placeholder": menu["placeholder"],
            "action_ts": "1678252216.469172",
        }
    ]
    return await bot.interact(payload)


async def menu_modal(
    bot: Bot, slack: SlackStandIn, choice: MenuChoice, ref: str = "123"
) -> dict[str, Any]:
    """The filled-in modal an entry of the card's menu opened."""
    card = await show_card(bot, slack, ref)
    response = await choose(bot, card, choice)
    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    [opened] = slack.calls_to("views.open")
    assert opened.args["view"]["blocks"][0]["text"]["text"] == "Looking up the incident…"
    return dict(slack.calls_to("views.update")[0].args["view"])


def element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return dict(block["element"])


def picked(action_id: str, kind: str, value: str) -> dict[str, Any]:
    option = {"text": {"type": "plain_text", "text": value}, "value": value}
    return {action_id: {"type": kind, "selected_option": option}}


def text(action_id: str, value: str | None) -> dict[str, Any]:
    return {action_id: {"type": "plain_text_input", "value": value}}


async def settled(slack: SlackStandIn) -> None:
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= 2)
    await asyncio.sleep(0.1)


def test_the_menu_has_every_entry_and_each_value_fits_slacks_150_characters() -> None:
    from app.blocks.card import CardState, _more_menu

    state = CardState("Q0RIJJZL24RC6WABCDEF", "acknowledged", 10, 1_234_567_890, "t" * 100)
    menu = _more_menu(state)
    assert [o["value"].partition("|")[0] for o in menu["options"]] == list(MenuChoice)
    assert all(len(o["value"]) <= 150 for o in menu["options"])
    assert [o["text"]["text"] for o in menu["options"]] == [
        "Snooze…",
        "Priority…",
        "Urgency…",
        "Reassign to a team…",
        "Merge into…",
        "Conference bridge…",
    ]


async def test_snooze_entry_offers_presets_and_snoozes_for_the_chosen_one(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.SNOOZE, "124")
    assert view["callback_id"] == CallbackId.SNOOZE_MODAL
    presets = element(view, BlockId.DURATION)["options"]
    assert [o["text"]["text"] for o in presets] == ["30 min", "1 h", "4 h", "Custom…"]

    await bot.submit(
        view,
        {
            BlockId.DURATION: picked(InputActionId.DURATION, "radio_buttons", "4h"),
            BlockId.CUSTOM_DURATION: text(InputActionId.CUSTOM_DURATION, None),
        },
    )

    await settled(slack)
    [post] = pagerduty.writes
    assert (post.path, post.json) == ("/incidents/PQ2OLD0/snooze", {"duration": 4 * 3600})
    card = slack.calls_to("chat.update")[-1].args
    fields = [f["text"] for f in card["blocks"][0]["fields"]]
    assert any(f.startswith("*Snoozed until*\n<!date^") for f in fields)
    [line] = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert line["text"].startswith("Alice Example snoozed until <!date^")


async def test_a_custom_snooze_that_is_no_duration_is_refused_under_its_field(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.SNOOZE, "124")

    response = await bot.submit(
        view,
        {
            BlockId.DURATION: picked(InputActionId.DURATION, "radio_buttons", "custom"),
            BlockId.CUSTOM_DURATION: text(InputActionId.CUSTOM_DURATION, "8d"),
        },
    )

    assert response.json() == {
        "response_action": "errors",
        "errors": {BlockId.CUSTOM_DURATION: "A snooze lasts at most 7 days; 8d is longer."},
    }
    await asyncio.sleep(0.1)
    assert pagerduty.writes == []


async def test_priority_entry_is_a_select_of_the_accounts_priorities_preset_to_the_current(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.incidents[INCIDENT_123]["priority"] = pagerduty.priorities[2]
    view = await menu_modal(bot, slack, MenuChoice.PRIORITY)
    select = element(view, BlockId.PRIORITY)
    assert [o["text"]["text"] for o in select["options"]] == ["P1", "P2", "P3"]
    assert select["initial_option"]["value"] == "PPRIO03"

    await bot.submit(
        view, {BlockId.PRIORITY: picked(InputActionId.PRIORITY, "static_select", "PPRIO01")}
    )

    await settled(slack)
    [put] = pagerduty.writes
    assert put.json["incident"]["priority"] == {"id": "PPRIO01", "type": "priority_reference"}
    card = slack.calls_to("chat.update")[-1].args
    assert "*Priority*\nP1" in [f["text"] for f in card["blocks"][0]["fields"]]


async def test_the_priority_entry_on_an_account_without_priorities_says_so_in_the_modal(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.priorities_enabled = False

    view = await menu_modal(bot, slack, MenuChoice.PRIORITY)

    assert "Priorities are turned off" in view["blocks"][0]["text"]["text"]
    assert "submit" not in view
    assert pagerduty.writes == []


async def test_urgency_entry_is_preset_to_the_current_urgency_and_changes_it(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.URGENCY)
    assert element(view, BlockId.URGENCY)["initial_option"]["value"] == "high"

    await bot.submit(view, {BlockId.URGENCY: picked(InputActionId.URGENCY, "radio_buttons", "low")})

    await settled(slack)
    [put] = pagerduty.writes
    assert put.json["incident"]["urgency"] == "low"


async def test_team_entry_searches_policies_as_you_type_and_reassigns_to_the_chosen(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.TEAM)
    select = element(view, BlockId.POLICY)
    assert select["type"] == "external_select"
    assert select["initial_option"]["value"] == "PEPOL01"

    suggestions = await bot.interact(
        {
            "type": "block_suggestion",
            "user": {"id": "U0ALICE01", "username": "alice", "team_id": "T0G9PQBBK"},
            "container": {"type": "view", "view_id": "V0MODAL01"},
            "api_app_id": "A0INCBOT1",
            "token": "legacy-verification-token",
            "action_id": InputActionId.POLICY.value,
            "block_id": BlockId.POLICY.value,
            "value": "platf",
            "team": {"id": "T0G9PQBBK", "domain": "acme-sre"},
            "view": {**view, "id": "V0MODAL01"},
        }
    )
    assert suggestions.status_code == 200
    assert [(o["value"], o["text"]["text"]) for o in suggestions.json()["options"]] == [
        ("PEPOL03", "Platform"),
        ("PEPOL04", "platform"),
        ("PEPOL05", "Platform v2"),
    ]

    await bot.submit(
        view, {BlockId.POLICY: picked(InputActionId.POLICY, "external_select", "PEPOL05")}
    )

    await settled(slack)
    [put] = pagerduty.writes
    assert put.json["incident"]["escalation_policy"]["id"] == "PEPOL05"
    [line] = [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert line["text"] == "Alice Example reassigned to Platform v2 (Alice Example)"


async def test_merge_entry_merges_the_cards_incident_into_the_one_typed(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.MERGE, "124")

    await bot.submit(view, {BlockId.MERGE_TARGET: text(InputActionId.MERGE_TARGET, "#123")})

    await settled(slack)
    [put] = pagerduty.writes
    assert put.path == f"/incidents/{INCIDENT_123}/merge"
    assert put.json == {"source_incidents": [{"id": "PQ2OLD0", "type": "incident_reference"}]}
    merged = slack.calls_to("chat.update")[-1].args
    assert [b["block_id"] for b in merged["blocks"]] == ["incident_merged"]


async def test_merging_a_card_into_itself_is_refused_under_its_field(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.MERGE, "124")

    response = await bot.submit(
        view, {BlockId.MERGE_TARGET: text(InputActionId.MERGE_TARGET, "124")}
    )

    assert response.json()["errors"] == {
        BlockId.MERGE_TARGET: "An incident cannot be merged into itself."
    }
    assert pagerduty.writes == []


async def test_bridge_entry_is_prefilled_with_the_current_bridge_and_replaces_it(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.incidents[INCIDENT_123]["conference_bridge"] = {
        "conference_url": "https://old.example.com/a",
        "conference_number": "+1 555 0100",
    }
    view = await menu_modal(bot, slack, MenuChoice.BRIDGE)
    assert element(view, BlockId.BRIDGE_URL)["initial_value"] == "https://old.example.com/a"
    assert element(view, BlockId.BRIDGE_NUMBER)["initial_value"] == "+1 555 0100"

    await bot.submit(
        view,
        {
            BlockId.BRIDGE_URL: text(InputActionId.BRIDGE_URL, "https://meet.example.com/new"),
            BlockId.BRIDGE_NUMBER: text(InputActionId.BRIDGE_NUMBER, None),
        },
    )

    await settled(slack)
    [put] = pagerduty.writes
    assert put.json["incident"]["conference_bridge"] == {
        "conference_url": "https://meet.example.com/new"
    }


async def test_a_bridge_with_letters_in_its_number_is_refused_under_its_field(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    view = await menu_modal(bot, slack, MenuChoice.BRIDGE)

    response = await bot.submit(
        view,
        {
            BlockId.BRIDGE_URL: text(InputActionId.BRIDGE_URL, "https://meet.example.com/new"),
            BlockId.BRIDGE_NUMBER: text(InputActionId.BRIDGE_NUMBER, "call bob"),
        },
    )

    assert list(response.json()["errors"]) == [BlockId.BRIDGE_NUMBER]
    assert pagerduty.writes == []


SUBMISSIONS: dict[MenuChoice, tuple[str, dict[str, Any]]] = {
    MenuChoice.SNOOZE: (
        "124",
        {BlockId.DURATION: picked(InputActionId.DURATION, "radio_buttons", "30m")},
    ),
    MenuChoice.PRIORITY: (
        "123",
        {BlockId.PRIORITY: picked(InputActionId.PRIORITY, "static_select", "PPRIO02")},
    ),
    MenuChoice.URGENCY: (
        "123",
        {BlockId.URGENCY: picked(InputActionId.URGENCY, "radio_buttons", "low")},
    ),
    MenuChoice.TEAM: (
        "123",
        {BlockId.POLICY: picked(InputActionId.POLICY, "external_select", "PEPOL02")},
    ),
    MenuChoice.MERGE: ("124", {BlockId.MERGE_TARGET: text(InputActionId.MERGE_TARGET, "123")}),
    MenuChoice.BRIDGE: (
        "123",
        {BlockId.BRIDGE_URL: text(InputActionId.BRIDGE_URL, "https://meet.example.com/x")},
    ),
}


@pytest.mark.parametrize("choice", list(MenuChoice))
async def test_a_double_submit_of_any_menu_modal_acts_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, choice: MenuChoice
) -> None:
    ref, values = SUBMISSIONS[choice]
    view = await menu_modal(bot, slack, choice, ref)

    first, second = await asyncio.gather(bot.submit(view, values), bot.submit(view, values))

    assert first.status_code == second.status_code == 200
    # A merge names no card of its own, so its success is confirmed privately too.
    private_messages = 1 + (choice is MenuChoice.MERGE)
    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == private_messages)
    await asyncio.sleep(0.2)
    assert len(pagerduty.writes) == 1
    told = slack.calls_to("chat.postEphemeral")
    confirmations = [c for c in told if c.args["text"].startswith("Done: ")]
    [refusal] = [c for c in told if c not in confirmations]
    assert len(confirmations) == (choice is MenuChoice.MERGE)
    assert refusal.args["user"] == "U0ALICE01"
    assert "already" in refusal.args["text"]
