"""Slack's less common request shapes, signed and sent through the real app: Enterprise
Grid (`W…` user ids, `team: null` in org-wide installs, `enterprise` objects), a button on an
ephemeral message (no `message` key) and message shortcuts on messages whose content lives
only in their blocks."""

import asyncio
import copy
from typing import Any
from urllib.parse import urlencode

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import FORM, signed_headers
from app.demo.slack import SlackStandIn
from app.ids import ActionId, BlockId, InputActionId, Shortcut
from tests.conftest import SIGNING_SECRET, Bot, show_card
from tests.listeners.test_threads import shortcut_payload
from tests.standins.contracts import load_slack_sample

GRID_USER = "W0ALICE01"  # Enterprise Grid user ids start with W
ENTERPRISE = {"id": "E0ACME0001", "name": "Acme Corp"}
ACKNOWLEDGED = {"incident": {"type": "incident_reference", "status": "acknowledged"}}


async def test_an_enterprise_grid_slash_command_acts_as_the_w_user(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.set_user(GRID_USER, "alice@example.com", name="alice")
    # Slack's docs example carries enterprise_id/enterprise_name on Grid workspaces.
    fields: dict[str, Any] = load_slack_sample("requests/slash_command.incident_resolve.form.json")
    fields.update(
        text="ack 123",
        user_id=GRID_USER,
        enterprise_id=ENTERPRISE["id"],
        enterprise_name=ENTERPRISE["name"],
        is_enterprise_install="true",
        response_url=bot.response_url,
    )
    body = urlencode(fields).encode()

    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.responses) >= 1)
    [put] = pagerduty.writes
    assert put.json == ACKNOWLEDGED
    assert put.headers["from"] == "alice@example.com"


async def test_an_org_wide_install_click_with_no_team_acts_as_the_w_user(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.set_user(GRID_USER, "alice@example.com", name="alice")
    card = await show_card(bot, slack)
    payload = bot.click_payload(card, ActionId.ACKNOWLEDGE, user=GRID_USER)
    # Org-wide installs send `team: null`; the workspace is in `user.team_id`.
    payload.update(team=None, enterprise=ENTERPRISE, is_enterprise_install=True)

    response = await bot.interact(payload)

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 2)
    [put] = pagerduty.writes
    assert put.json == ACKNOWLEDGED
    assert put.headers["from"] == "alice@example.com"
    thread_line = slack.calls_to("chat.postMessage")[-1].args
    assert thread_line["text"].startswith("Alice Example acknowledged")  # named, not pinged


async def test_a_button_on_an_ephemeral_card_acts_and_redraws_only_the_posted_cards(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    payload = bot.click_payload(card, ActionId.ACKNOWLEDGE)
    # An ephemeral message's block_actions has no `message`; its container says so.
    del payload["message"]
    ephemeral_ts = "1678252299.000900"
    payload["container"].update(message_ts=ephemeral_ts, is_ephemeral=True)

    response = await bot.interact(payload)

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 2)  # thread line
    await asyncio.sleep(0.2)
    [put] = pagerduty.writes
    assert put.json == ACKNOWLEDGED
    [update] = slack.calls_to("chat.update")
    assert update.args["ts"] == card["ts"]  # the card in the channel, not the ephemeral one
    assert not any("would not update" in r.get("text", "") for r in slack.responses)


async def test_the_resolve_modal_from_an_ephemeral_card_resolves_without_updating_it(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    card = await show_card(bot, slack)
    payload = bot.click_payload(card, ActionId.RESOLVE)
    del payload["message"]
    payload["container"].update(message_ts="1678252299.000900", is_ephemeral=True)
    await bot.interact(payload)
    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    view = slack.calls_to("views.open")[0].args["view"]

    await bot.submit(
        view,
        {
            BlockId.RESOLUTION: {
                InputActionId.RESOLUTION: {"type": "plain_text_input", "value": "db fixed"}
            }
        },
    )

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    await asyncio.sleep(0.2)
    assert pagerduty.writes[0].json["incident"]["status"] == "resolved"
    assert [u.args["ts"] for u in slack.calls_to("chat.update")] == [card["ts"]]


def blocks_only(payload: dict[str, Any]) -> dict[str, Any]:
    """The shortcut's message as an app posts it: empty `text`, content in rich text."""
    reshaped = copy.deepcopy(payload)
    reshaped["message"]["text"] = ""
    reshaped["message"]["blocks"] = [
        {
            "type": "rich_text",
            "block_id": "b1",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "disk full on "},
                        {"type": "text", "text": "db-1", "style": {"code": True}},
                        {"type": "text", "text": " & "},
                        {"type": "user", "user_id": "U0BOB0002"},
                        {"type": "text", "text": " is on it\n"},
                    ],
                },
                {
                    "type": "rich_text_preformatted",
                    "elements": [{"type": "text", "text": "ENOSPC: /var/lib/pg"}],
                },
            ],
        }
    ]
    return reshaped


async def test_add_to_notes_on_a_blocks_only_message_adds_the_rendered_text(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.interact(blocks_only(shortcut_payload(Shortcut.ADD_NOTE, bot)))

    await slack.wait_for(lambda s: len(s.responses) == 1)
    [post] = pagerduty.writes
    content = post.json["note"]["content"]
    assert content.startswith(
        "disk full on `db-1` & <@U0BOB0002> is on it\n```ENOSPC: /var/lib/pg```\n— "
    )


async def test_add_to_notes_on_a_message_with_no_text_at_all_says_so(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    payload = shortcut_payload(Shortcut.ADD_NOTE, bot)
    payload["message"].update(text="", blocks=[{"type": "divider", "block_id": "d"}])

    await bot.interact(payload)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "That message has no text to add." in slack.responses[0]["text"]
    assert pagerduty.writes == []


async def test_the_escalate_shortcut_on_a_blocks_only_message_prefills_the_rendered_text(
    bot: Bot, slack: SlackStandIn, card_thread: None
) -> None:
    await bot.interact(blocks_only(shortcut_payload(Shortcut.ESCALATE, bot)))

    await slack.wait_for(lambda s: len(s.calls_to("views.open")) == 1)
    view = slack.calls_to("views.open")[0].args["view"]
    note_input = next(b for b in view["blocks"] if b.get("block_id") == BlockId.NOTE)
    assert note_input["element"]["initial_value"].startswith("disk full on `db-1` & <@U0BOB0002>")
