"""Acting from an incident card's thread: mentions and message shortcuts, signed Events API
and interactivity requests built from the shared Slack samples."""

import asyncio
import copy
from typing import Any

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import BlockId, CallbackId, InputActionId, Shortcut
from tests.conftest import CARD_TS, Bot, posted_card
from tests.standins.contracts import load_slack_sample

INCIDENT_123 = "PT4KHLK"


def mention(
    text: str,
    *,
    user: str = "U0BOB0002",
    thread_ts: str | None = CARD_TS,
    event_id: str = "Ev04SPP46R6J",
) -> dict[str, Any]:
    envelope = load_slack_sample("requests/event.app_mention.escalate_in_thread.json")
    event = envelope["event"]
    event.update(text=f"<@U0INCBOT1> {text}", user=user)
    if thread_ts is None:
        event.pop("thread_ts")
    else:
        event["thread_ts"] = thread_ts
    envelope["event_id"] = event_id
    return envelope


def thread_replies(slack: SlackStandIn) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]


async def test_escalate_mention_in_a_card_thread_escalates_that_incident_as_the_user(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    response = await bot.event(mention("escalate"))

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    [put] = pagerduty.writes
    assert put.path == f"/incidents/{INCIDENT_123}"
    assert put.json == {"incident": {"type": "incident_reference", "escalation_level": 2}}
    assert put.headers["from"] == "bob@example.com"
    [reply] = thread_replies(slack)
    assert reply["thread_ts"] == CARD_TS
    assert reply["text"].startswith("Bob Builder escalated")
    replies = slack.calls_to("conversations.replies")
    assert replies[0].args["include_all_metadata"] in (True, "true", "1", 1)


async def test_the_shared_escalate_sample_acts_through_the_real_app(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    envelope = load_slack_sample("requests/event.app_mention.escalate_in_thread.json")
    await bot.event(envelope)
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    assert [w.json["incident"]["escalation_level"] for w in pagerduty.writes] == [2]


async def test_a_retried_event_acts_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    envelope = mention("escalate")
    first = await bot.event(envelope)
    retry = await bot.event(copy.deepcopy(envelope), retry_num=1)

    assert (first.status_code, retry.status_code) == (200, 200)
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    await asyncio.sleep(0.2)
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("ack", {"status": "acknowledged"}),
        ("resolve db back", {"status": "resolved", "resolution": "db back"}),
        ("escalate 3 paging carol", {"escalation_level": 3}),
        (
            "reassign <@U0CAROL03|carol>",
            {"assignments": [{"assignee": {"id": "PCAROL3", "type": "user_reference"}}]},
        ),
    ],
)
async def test_each_verb_in_a_card_thread_needs_no_incident_number(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    card_thread: None,
    text: str,
    body: dict[str, Any],
) -> None:
    await bot.event(mention(text))
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    put = pagerduty.writes[0]
    assert put.path == f"/incidents/{INCIDENT_123}"
    assert put.json == {"incident": {"type": "incident_reference", **body}}


async def test_note_mention_adds_a_note(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.event(mention("note failover started"))
    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    [post] = pagerduty.writes
    assert post.json == {"note": {"content": "failover started"}}


async def test_a_mention_with_no_verb_gets_help_and_writes_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.event(mention(""))
    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    help_text = slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert "Mention me in an incident card's thread" in help_text
    assert pagerduty.writes == []


async def test_a_mention_in_a_thread_whose_parent_is_not_a_card_explains(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.add_message("C0INCIDENTS", CARD_TS, "lunch?")  # an ordinary thread

    await bot.event(mention("escalate"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    ephemeral = slack.calls_to("chat.postEphemeral")[0].args
    assert "not an incident card's thread" in ephemeral["text"]
    assert ephemeral["user"] == "U0BOB0002"
    assert pagerduty.writes == []


async def test_a_mention_outside_a_thread_takes_a_ref(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    await bot.event(mention("ack 123", thread_ts=None))
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["acknowledged"]


@pytest.mark.parametrize("error", ["not_in_channel", "ratelimited"])
async def test_when_the_thread_cannot_be_read_nothing_is_written_and_the_user_is_told(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, error: str
) -> None:
    failure: dict[str, Any] = {"error": error}
    if error == "ratelimited":
        failure |= {"status": 429, "headers": {"retry-after": "0"}, "times": 3}
    slack.fail_next("conversations.replies", **failure)

    await bot.event(mention("escalate"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    assert "couldn't read this thread" in slack.calls_to("chat.postEphemeral")[0].args["text"]
    assert pagerduty.writes == []


async def test_the_bots_own_mentions_and_edits_are_ignored(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    own = mention("escalate", user="U0INCBOT1", event_id="EvOWN")
    own["event"]["bot_id"] = "B0INCBOT1"
    edited = mention("escalate", event_id="EvEDIT")
    edited["event"]["edited"] = {"user": "U0BOB0002", "ts": "1678252410.000000"}

    assert (await bot.event(own)).status_code == 200
    assert (await bot.event(edited)).status_code == 200
    self_message = load_slack_sample("requests/event.message.bot_self_in_thread.json")
    assert (await bot.event(self_message)).status_code in (200, 404)

    await asyncio.sleep(0.2)
    assert pagerduty.requests == []
    assert slack.calls_to("chat.postMessage") == []


async def test_a_thread_of_a_card_posted_by_show_is_found_without_asking_slack(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    await bot.command("show 123")
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    card = posted_card(slack)

    await bot.event(mention("ack", thread_ts=card["ts"]))

    await slack.wait_for(
        lambda s: len(s.calls_to("chat.update")) == 1 and len(thread_replies(s)) == 1
    )
    await asyncio.sleep(0.1)
    assert slack.calls_to("conversations.replies") == []
    assert [w.json["incident"]["status"] for w in pagerduty.writes] == ["acknowledged"]
    # The reply in the thread says it once; the card itself is redrawn.
    assert len(thread_replies(slack)) == 1


# --- message shortcuts -------------------------------------------------------------------


def shortcut_payload(callback_id: str, bot: Bot, *, user: str = "U0ALICE01") -> dict[str, Any]:
    payload = load_slack_sample("requests/message_action.escalate_on_thread_reply.payload.json")
    payload["callback_id"] = callback_id
    payload["user"] = {"id": user, "name": user.lower(), "team_id": "T0G9PQBBK"}
    payload["response_url"] = f"{bot.slack.url}/hooks/actions/shortcut/{user}"  # type: ignore[attr-defined]
    return payload


async def test_escalate_shortcut_opens_a_modal_prefilled_with_next_level_and_the_message(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))

    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    opened = slack.calls_to("views.open")[0].args["view"]
    assert opened["callback_id"] == CallbackId.ESCALATE_MODAL
    view = slack.calls_to("views.update")[0].args["view"]
    level_input = next(b for b in view["blocks"] if b.get("block_id") == BlockId.LEVEL)
    note_input = next(b for b in view["blocks"] if b.get("block_id") == BlockId.NOTE)
    assert level_input["element"]["initial_value"] == "2"
    assert (
        note_input["element"]["initial_value"] == "still failing after the db fix, needs escalation"
    )
    assert pagerduty.writes == []

    await bot.submit(
        view,
        {
            BlockId.LEVEL: {InputActionId.LEVEL: {"type": "plain_text_input", "value": "2"}},
            BlockId.NOTE: {
                InputActionId.NOTE: {"type": "plain_text_input", "value": "db fix failed"}
            },
        },
    )

    await slack.wait_for(lambda s: len(pagerduty.writes) == 2)
    put, note = pagerduty.writes
    assert put.json["incident"]["escalation_level"] == 2
    assert put.headers["from"] == "alice@example.com"
    assert note.json == {"note": {"content": "db fix failed"}}


async def test_escalate_modal_with_a_bad_level_gets_an_inline_error(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = slack.calls_to("views.update")[0].args["view"]

    response = await bot.submit(
        view, {BlockId.LEVEL: {InputActionId.LEVEL: {"type": "plain_text_input", "value": "two"}}}
    )

    assert response.json()["response_action"] == "errors"
    assert BlockId.LEVEL in response.json()["errors"]
    assert pagerduty.writes == []


async def test_escalate_shortcut_outside_an_incident_thread_explains_in_the_modal(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.add_message("C0INCIDENTS", CARD_TS, "lunch?")
    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))
    await slack.wait_for(lambda s: len(s.calls_to("views.update")) == 1)
    view = slack.calls_to("views.update")[0].args["view"]
    assert "not in an incident card's thread" in str(view["blocks"])
    assert "submit" not in view
    assert pagerduty.writes == []


async def test_add_to_notes_shortcut_adds_the_message_with_author_and_permalink(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    slack.set_user("U0BOB0002", "bob@example.com", name="Bob Builder")
    await bot.interact(shortcut_payload(Shortcut.ADD_NOTE, bot))

    await slack.wait_for(lambda s: len(s.responses) == 1)
    [post] = pagerduty.writes
    content = post.json["note"]["content"]
    assert content.startswith("still failing after the db fix, needs escalation\n— ")
    assert "Bob Builder" in content or "U0BOB0002" in content
    assert "http" in content  # the permalink
    assert post.headers["from"] == "alice@example.com"  # written by the person who used it
    assert "Added to the notes of" in slack.responses[0]["text"]


# --- the incident a mention names wins over the thread's card ---------------------------


def second_incident(pagerduty: PagerDutyStandIn) -> str:
    pagerduty.add_incident(
        456, id="PQ456AB", title="Disk full", service_id="PSVC001", policy_id="PEPOL01"
    )
    return "PQ456AB"


async def test_a_mention_naming_another_incident_in_a_card_thread_resolves_only_that_one(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    other = second_incident(pagerduty)
    await bot.event(mention("resolve 456"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) >= 1)
    await asyncio.sleep(0.2)
    assert [w.path for w in pagerduty.writes] == [f"/incidents/{other}"]
    assert "resolution" not in pagerduty.writes[0].json["incident"]
    assert pagerduty.incidents[INCIDENT_123]["status"] == "triggered"


async def test_ack_naming_another_incident_in_a_card_thread_acks_only_that_one(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    other = second_incident(pagerduty)
    await bot.event(mention("ack 456"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) >= 1)
    await asyncio.sleep(0.2)
    assert [w.path for w in pagerduty.writes] == [f"/incidents/{other}"]


async def test_a_multi_line_mention_note_in_a_card_thread_keeps_its_code_block(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    await bot.event(mention("note saw this\n```\nKeyError: 'db' &amp; retry\n```"))

    await slack.wait_for(lambda s: len(thread_replies(s)) == 1)
    [post] = pagerduty.writes
    assert post.path == f"/incidents/{INCIDENT_123}/notes"
    assert post.json == {"note": {"content": "saw this\n```\nKeyError: 'db' & retry\n```"}}
