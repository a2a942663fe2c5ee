"""The buttons and the shortcut around an incident, through the real app: Share in channel
on the on-call answer, the `mine` list's Acknowledge and Resolve (the card's own handlers),
and "Page on-call about this" with its modal."""

import asyncio
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.slack import SlackStandIn
from app.ids import ActionId, BlockId, CallbackId, InputActionId, Shortcut
from tests.conftest import Bot, cards_posted
from tests.listeners.test_threads import shortcut_payload
from tests.standins.contracts import load_slack_sample

INCIDENT_123 = "PT4KHLK"


@pytest.fixture(autouse=True)
def world(pagerduty: PagerDutyStandIn) -> None:
    seed_responding(pagerduty)


def button_of(blocks: list[dict[str, Any]], action_id: str, index: int = 0) -> dict[str, Any]:
    return [
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    ][index]


async def click_ephemeral(bot: Bot, button: dict[str, Any], *, user: str = "U0ALICE01") -> None:
    """A button on a message only `user` sees (Slack: `container.is_ephemeral`)."""
    payload = load_slack_sample("requests/block_actions.acknowledge_button.payload.json")
    payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0G9PQBBK"}
    payload["container"] = {
        "type": "message",
        "message_ts": "1678252299.000100",
        "channel_id": "C0INCIDENTS",
        "is_ephemeral": True,
    }
    payload.pop("message", None)  # Slack sends no message for an ephemeral one
    payload["response_url"] = f"{bot.slack.url}/hooks/actions/T0G9PQBBK/2/{user}"  # type: ignore[attr-defined]
    payload["actions"] = [{**button, "action_ts": "1678252300.469172"}]
    response = await bot.interact(payload)
    assert response.status_code == 200


# --- Share in channel --------------------------------------------------------------------


async def test_share_in_channel_reads_who_is_on_call_again_and_posts_it(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    [answer] = await bot.reply_to('oncall "Checkout escalation"')
    pagerduty.set_oncall("PEPOL01", 1, ["PCAROL3"])  # the shift changed since

    await click_ephemeral(bot, button_of(answer["blocks"], ActionId.SHARE_ONCALL))

    await slack.wait_for(lambda s: len(s.responses) == 2)
    shared = slack.responses[1]
    assert shared["response_type"] == "in_channel"
    assert shared["text"].startswith("<@U0ALICE01> shared who is on call:")
    assert "Level 1: Carol Chen" in shared["text"]
    assert pagerduty.writes == []


async def test_a_forged_share_value_is_refused_without_reading_pagerduty(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    forged = {"type": "button", "action_id": ActionId.SHARE_ONCALL, "value": '["../users"]'}
    reads = len(pagerduty.requests)

    await click_ephemeral(bot, forged)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "too old to share" in slack.responses[0]["text"]
    assert len(pagerduty.requests) == reads


# --- the mine list's buttons -------------------------------------------------------------


async def test_acknowledge_on_the_mine_list_acknowledges_and_says_so_privately(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    [listing] = await bot.reply_to("mine")

    await click_ephemeral(bot, button_of(listing["blocks"], ActionId.ACKNOWLEDGE))

    await slack.wait_for(lambda s: len(s.responses) == 2)
    [put] = pagerduty.writes
    assert put.json["incident"]["status"] == "acknowledged"
    assert slack.responses[1]["text"].startswith("Done: Alice Example acknowledged")
    assert slack.calls_to("chat.update") == []  # the ephemeral list is no card


async def test_resolve_on_the_mine_list_opens_the_cards_modal_and_resolves(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    [listing] = await bot.reply_to("mine")

    await click_ephemeral(bot, button_of(listing["blocks"], ActionId.RESOLVE, index=1))
    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    view = slack.calls_to("views.open")[0].args["view"]
    assert view["callback_id"] == CallbackId.RESOLVE_MODAL
    value = {"type": "plain_text_input", "value": "disk cleaned"}
    await bot.submit(view, {BlockId.RESOLUTION: {InputActionId.RESOLUTION: value}})

    await slack.wait_for(lambda s: len(pagerduty.writes) == 1 and s.calls_to("chat.postEphemeral"))
    [put] = pagerduty.writes
    assert put.path == "/incidents/PQ2OLD0"
    assert put.json["incident"]["resolution"] == "disk cleaned"
    assert "Done:" in slack.calls_to("chat.postEphemeral")[0].args["text"]


# --- Page on-call about this -------------------------------------------------------------


async def test_page_oncall_shortcut_opens_a_prefilled_modal_then_offers_the_services(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await bot.interact(shortcut_payload(Shortcut.PAGE_ONCALL, bot))

    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    opened = slack.calls_to("views.open")[0].args["view"]
    assert opened["callback_id"] == CallbackId.PAGE_ONCALL_MODAL
    [title] = [b for b in opened["blocks"] if b.get("block_id") == BlockId.TITLE]
    assert title["element"]["initial_value"] == "still failing after the db fix, needs escalation"
    view = slack.calls_to("views.update")[0].args["view"]
    [picker] = [b for b in view["blocks"] if b.get("block_id") == BlockId.SERVICE]
    assert [o["value"] for o in picker["element"]["options"]] == ["PSVC001"]
    assert pagerduty.writes == []


async def submit_page_oncall(
    bot: Bot, view: dict[str, Any], *, title: str, service: str = "", typed: str = ""
) -> None:
    values: dict[str, Any] = {
        BlockId.TITLE: {InputActionId.TITLE: {"type": "plain_text_input", "value": title}},
        BlockId.SERVICE_NAME: {
            InputActionId.SERVICE_NAME: {"type": "plain_text_input", "value": typed or None}
        },
        BlockId.URGENCY: {
            InputActionId.URGENCY: {"type": "radio_buttons", "selected_option": {"value": "low"}}
        },
    }
    if service:
        values[BlockId.SERVICE] = {
            InputActionId.SERVICE: {"type": "static_select", "selected_option": {"value": service}}
        }
    response = await bot.submit(view, values)
    assert response.status_code == 200


async def opened_modal(bot: Bot, slack: SlackStandIn) -> dict[str, Any]:
    await bot.interact(shortcut_payload(Shortcut.PAGE_ONCALL, bot))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    return dict(slack.calls_to("views.update")[0].args["view"])


async def test_submitting_the_modal_opens_one_incident_linked_to_the_message_even_twice(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    view = await opened_modal(bot, slack)

    await submit_page_oncall(bot, view, title="db fix failed", service="PSVC001")
    # The card, then the announcement under the message it is about: wait for both.
    await slack.wait_for(
        lambda s: len(cards_posted(s)) == 1 and len(s.calls_to("chat.postMessage")) == 2
    )
    await submit_page_oncall(bot, view, title="db fix failed", service="PSVC001")
    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)

    creates = pagerduty.requests_to("POST", "/incidents")
    assert len(creates) == 2
    assert creates[0].json["incident"]["urgency"] == "low"
    key = creates[0].json["incident"]["incident_key"]
    assert key == creates[1].json["incident"]["incident_key"]
    [new_id] = [i for i in pagerduty.incidents if i.startswith("PNEW")]
    [note] = pagerduty.notes[new_id]
    assert "https://acme-sre.slack.com/archives/C0INCIDENTS/p1678252300000200" in note["content"]
    assert "already open" in slack.calls_to("chat.postEphemeral")[0].args["text"]
    [announced] = [c.args for c in slack.calls_to("chat.postMessage") if "blocks" not in c.args]
    assert announced["thread_ts"] == "1678252300.000200"  # under the message it is about


async def test_the_modal_refuses_no_title_or_no_service_in_place(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    view = await opened_modal(bot, slack)
    view["blocks"] = [b for b in view["blocks"] if b.get("block_id") != BlockId.SERVICE]

    no_title = await bot.submit(view, {BlockId.TITLE: {InputActionId.TITLE: {"value": " "}}})
    no_service = await bot.submit(view, {BlockId.TITLE: {InputActionId.TITLE: {"value": "x"}}})

    assert no_title.json()["errors"] == {
        BlockId.TITLE: "Say what is wrong: the incident needs a title."
    }
    assert no_service.json()["errors"] == {
        BlockId.SERVICE_NAME: "Choose a service, or type its name."
    }
    await asyncio.sleep(0.05)
    assert pagerduty.writes == []


async def test_a_disabled_service_typed_in_the_modal_is_refused_with_a_sentence(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    view = await opened_modal(bot, slack)

    await submit_page_oncall(bot, view, title="invoices stuck", typed="legacy billing")

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    assert "disabled" in slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert pagerduty.writes == []
