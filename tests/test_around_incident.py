"""Around the incident, end to end: `oncall`, `mine`, `ack mine`, `page`, `update` and
`trigger` as signed slash commands through the real app, against the spec-checked
PagerDuty stand-in (`seed_responding`'s world). Every refusal: its sentence and no write."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.blocks.parts import slack_date
from app.demo.pagerduty import PagerDutyStandIn, seed_responding
from app.demo.signing import signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.ids import ActionId
from app.pagerduty.webhooks import parse_event
from tests.conftest import (
    SIGNING_SECRET,
    Bot,
    action_ids,
    cards_posted,
    show_card,
)
from tests.test_webhooks import webhook

INCIDENT_123 = "PT4KHLK"


@pytest.fixture(autouse=True)
def world(pagerduty: PagerDutyStandIn) -> None:
    seed_responding(pagerduty)


async def reply_in(bot: Bot, channel: str, text: str) -> dict[str, Any]:
    """`/incident <text>` typed in `channel`; its one response_url message."""
    before = len(bot.slack.responses)
    body = slash_command_body(text, channel_id=channel, response_url=bot.response_url)
    headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
    response: httpx.Response = await bot.http.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 200
    await bot.slack.wait_for(lambda s: len(s.responses) > before)
    return bot.slack.responses[before]


async def refused(bot: Bot, text: str, *, user: str = "U0ALICE01") -> str:
    [reply] = await bot.reply_to(text, user=user)
    assert reply["response_type"] == "ephemeral", reply
    return str(reply["text"])


def reads_only(pagerduty: PagerDutyStandIn) -> bool:
    return pagerduty.writes == []


# --- oncall ------------------------------------------------------------------------------


async def test_oncall_names_each_level_its_schedule_and_shift_end_to_the_person_alone(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to('oncall "checkout ESCALATION"')

    assert reply["response_type"] == "ephemeral"
    text = reply["text"]
    assert "*Checkout escalation*" in text
    assert "Level 1: Alice Example · Checkout primary · until <!date^1893488400^" in text
    assert "Level 2: Bob Builder · Checkout secondary" in text
    assert "Level 3: Carol Chen · named in the policy · no shift end" in text
    assert "<@" not in text  # reading who is on call pages nobody
    share = reply["blocks"][-1]["elements"][0]
    assert share["action_id"] == ActionId.SHARE_ONCALL
    assert reads_only(pagerduty)


async def test_oncall_of_a_service_shows_its_escalation_policy(bot: Bot) -> None:
    [reply] = await bot.reply_to("oncall Payments API")

    assert "*Payments*" in reply["text"]
    assert "Level 1: Bob Builder" in reply["text"]


async def test_oncall_without_a_name_shows_the_policies_routed_to_this_channel(bot: Bot) -> None:
    reply = await reply_in(bot, "C0CHECKOUT", "oncall")

    assert reply["response_type"] == "ephemeral"
    assert "*Checkout escalation*" in reply["text"]


async def test_oncall_without_a_name_where_nothing_is_routed_gives_the_usage(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "oncall")

    assert "No PagerDuty service is routed to this channel" in text
    assert "`/incident oncall <policy | service>`" in text


async def test_oncall_for_an_unknown_name_says_so(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "oncall Nonexistent team")

    assert text == "No escalation policy or service is named “Nonexistent team”; nothing was done."
    assert reads_only(pagerduty)


async def test_oncall_for_an_ambiguous_name_lists_the_candidates_never_the_first_hit(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "oncall platform")

    assert "“platform” names 2 escalation policies or services" in text
    assert "`PEPOL03`" in text
    assert "`PEPOL04`" in text
    assert "PEPOL05" not in text  # "Platform v2" is only a loose match
    assert pagerduty.requests_to("GET", "/oncalls") == []


async def test_oncall_by_id_settles_an_ambiguous_name(bot: Bot) -> None:
    [reply] = await bot.reply_to("oncall PEPOL04")

    assert "Level 1: Bob Builder" in reply["text"]


async def test_oncall_for_an_unknown_id_says_so(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "oncall PNOPE99")

    assert text == "No escalation policy or service has the id `PNOPE99`; nothing was done."
    assert reads_only(pagerduty)


# --- mine --------------------------------------------------------------------------------


async def test_mine_lists_your_open_incidents_newest_first_with_the_card_buttons(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    [reply] = await bot.reply_to("mine")

    assert reply["response_type"] == "ephemeral"
    sections = [b["text"]["text"] for b in reply["blocks"] if b["type"] == "section"][1:]
    assert ["#123" in sections[0], "#124" in sections[1]] == [True, True]
    assert len(sections) == 2  # not 125 (resolved), not 126 (Bob's)
    buttons = [
        [e["action_id"] for e in b["elements"]] for b in reply["blocks"] if b["type"] == "actions"
    ]
    assert buttons == [[ActionId.ACKNOWLEDGE, ActionId.RESOLVE], [ActionId.RESOLVE]]
    [listing] = pagerduty.requests_to("GET", "/incidents")
    assert listing.query["user_ids[]"] == ["PALICE1"]
    assert sorted(listing.query["statuses[]"]) == ["acknowledged", "triggered"]
    assert reads_only(pagerduty)


async def test_mine_shows_at_most_20_and_counts_the_rest(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    for n in range(200, 223):
        pagerduty.add_incident(
            n, id=f"PMANY{n}", title=f"alert {n}", service_id="PSVC001", policy_id="PEPOL01"
        )

    [reply] = await bot.reply_to("mine")

    sections = [b for b in reply["blocks"] if b["type"] == "section"][1:]
    assert len(sections) == 20
    assert reply["blocks"][-1]["elements"][0]["text"] == "…and 5 more in PagerDuty."


# --- ack mine ----------------------------------------------------------------------------


async def test_ack_mine_acknowledges_only_your_triggered_incidents_in_one_bulk_put(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await show_card(bot, slack)

    [reply] = await bot.reply_to("ack mine")

    [put] = pagerduty.writes
    assert (put.method, put.path) == ("PUT", "/incidents")
    assert put.headers["from"] == "alice@example.com"
    assert [i["id"] for i in put.json["incidents"]] == [INCIDENT_123]
    assert pagerduty.incidents["PRESOLV"]["status"] == "resolved"  # never re-opened
    assert reply["response_type"] == "in_channel"
    assert reply["text"].startswith("<@U0ALICE01> acknowledged 1 of their incident(s): ")
    [update] = slack.calls_to("chat.update")
    assert ActionId.ACKNOWLEDGE not in action_ids(update.args)


async def test_ack_mine_with_nothing_to_acknowledge_says_so(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.incidents[INCIDENT_123]["status"] = "acknowledged"

    text = await refused(bot, "ack mine")

    assert text.startswith("Nothing to acknowledge: no triggered incident is assigned to you")
    assert reads_only(pagerduty)


async def test_ack_mine_says_which_incidents_pagerduty_left_unacknowledged(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.add_incident(
        127, id="PSTUCK7", title="queue stuck", service_id="PSVC001", policy_id="PEPOL01"
    )
    pagerduty.refuse_in_bulk.add("PSTUCK7")

    public, private = await bot.reply_to("ack mine", count=2)

    assert "acknowledged 1 of their incident(s)" in public["text"]
    assert private["response_type"] == "ephemeral"
    assert "PagerDuty did not acknowledge" in private["text"]
    assert "#127 queue stuck" in private["text"]
    assert pagerduty.incidents["PSTUCK7"]["status"] == "triggered"


# --- page --------------------------------------------------------------------------------


async def test_page_asks_the_person_to_respond_as_the_verified_user_and_mentions_them(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await show_card(bot, slack)

    [reply] = await bot.reply_to("page 123 <@U0BOB0002|bob> db team needed")

    [post] = pagerduty.writes
    assert post.path == f"/incidents/{INCIDENT_123}/responder_requests"
    assert post.headers["from"] == "alice@example.com"
    assert post.json["requester_id"] == "PALICE1"
    assert post.json["message"] == "db team needed"
    target = post.json["responder_request_targets"][0]["responder_request_target"]
    assert target == {"id": "PBOB002", "type": "user_reference"}
    assert reply["response_type"] == "in_channel"
    assert "<@U0BOB0002>" in reply["text"]
    card = slack.calls_to("chat.update")[-1].args
    [waiting] = [b for b in card["blocks"] if b.get("block_id") == "incident_responders"]
    assert "Bob Builder" in waiting["elements"][0]["text"]


async def test_page_without_a_message_sends_one_that_names_and_links_the_incident(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    await bot.reply_to('page 123 "Payments"')

    [post] = pagerduty.writes
    assert post.json["message"] == (
        "Please join #123 checkout API error rate high: "
        f"https://acme.pagerduty.com/incidents/{INCIDENT_123}"
    )
    target = post.json["responder_request_targets"][0]["responder_request_target"]
    assert target == {"id": "PEPOL02", "type": "escalation_policy_reference"}


async def test_page_with_no_target_says_whom_to_page(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "page 123")

    assert text.startswith("Say whom to page")
    assert pagerduty.requests == []


async def test_page_of_someone_without_a_pagerduty_user_pages_nobody(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    text = await refused(bot, "page 123 <@U0NOPD001|nobody> help")

    assert "@nobody" in text
    assert reads_only(pagerduty)


async def test_page_on_an_account_without_responder_requests_says_so(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.responder_requests_enabled = False

    text = await refused(bot, "page 123 <@U0BOB0002|bob>")

    assert "cannot add responders" in text
    assert "nobody was paged" in text
    assert pagerduty.incidents[INCIDENT_123].get("incidents_responders") is None


async def test_a_responder_reply_in_pagerduty_redraws_the_card(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    body = responder_replied(INCIDENT_123, "PBOB002", "joined")
    assert parse_event(body).incident_id == INCIDENT_123
    await show_card(bot, slack)
    await bot.reply_to("page 123 <@U0BOB0002|bob>")
    pagerduty.reply_to_responder_request(INCIDENT_123, "PBOB002", "joined")
    updates = len(slack.calls_to("chat.update"))

    await bot.webhook(body)

    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) > updates)
    card = slack.calls_to("chat.update")[-1].args
    assert not [b for b in card["blocks"] if b.get("block_id") == "incident_responders"]


def responder_replied(incident_id: str, user_id: str, state: str) -> bytes:
    """PagerDuty's `incident.responder.replied`: its data is an `incident_responder`, with
    the incident as a reference and no `id` of its own."""
    envelope = json.loads(webhook("incident.responder.replied", incident_id=incident_id))
    envelope["event"]["data"] = {
        "type": "incident_responder",
        "incident": {
            "id": incident_id,
            "type": "incident_reference",
            "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
        },
        "user": {"id": user_id, "type": "user_reference", "summary": "Bob Builder"},
        "escalation_policy": None,
        "message": "Please help with the checkout incident",
        "state": state,
    }
    return json.dumps(envelope).encode()


# --- update ------------------------------------------------------------------------------


async def test_update_posts_a_status_update_announces_it_and_shows_it_on_the_card(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await show_card(bot, slack)

    [reply] = await bot.reply_to("update 123 rolled back; errors falling")

    [post] = pagerduty.writes
    assert post.path == f"/incidents/{INCIDENT_123}/status_updates"
    assert post.json == {"message": "rolled back; errors falling"}
    assert post.headers["from"] == "alice@example.com"
    assert reply["response_type"] == "in_channel"
    assert "posted a status update on" in reply["text"]
    card = slack.calls_to("chat.update")[-1].args
    [latest] = [b for b in card["blocks"] if b.get("block_id") == "incident_status_update"]
    assert "rolled back; errors falling" in latest["elements"][0]["text"]
    assert "<!date^" in latest["elements"][0]["text"]


async def test_update_without_text_says_so(bot: Bot, pagerduty: PagerDutyStandIn) -> None:
    text = await refused(bot, "update 123")

    assert text.startswith("The status update is empty")
    assert pagerduty.requests == []


# --- trigger -----------------------------------------------------------------------------


async def test_trigger_opens_an_incident_as_the_person_and_posts_its_card_here(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    [reply] = await bot.reply_to('trigger "checkout api" checkout returns 500s')

    [post] = pagerduty.writes
    assert (post.method, post.path) == ("POST", "/incidents")
    assert post.headers["from"] == "alice@example.com"
    assert post.json["incident"]["title"] == "checkout returns 500s"
    assert post.json["incident"]["service"] == {"id": "PSVC001", "type": "service_reference"}
    assert reply["response_type"] == "in_channel"
    assert "opened" in reply["text"]
    assert "Checkout API" in reply["text"]
    [card] = cards_posted(slack)
    assert card["channel"] == "C0INCIDENTS"


async def test_triggering_in_the_routed_channel_gets_no_second_card_from_the_webhook(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await reply_in(bot, "C0CHECKOUT", 'trigger "Checkout API" db down')
    [new_id] = [i for i in pagerduty.incidents if i.startswith("PNEW")]

    response = await bot.webhook(webhook("incident.triggered", incident_id=new_id))

    assert response.status_code == 202
    # Events about one incident are applied in order: once the next one's line is in the
    # card's thread, the trigger has been applied (to the card already there).
    await bot.webhook(webhook("incident.priority_updated", incident_id=new_id))
    await slack.wait_for(
        lambda s: any(c.args.get("thread_ts") for c in s.calls_to("chat.postMessage"))
    )
    assert [c["channel"] for c in cards_posted(slack)] == ["C0CHECKOUT"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("trigger Nowhere it broke", "No service is named “Nowhere”"),
        ('trigger "Legacy billing" invoices stuck', "Legacy billing is disabled in PagerDuty"),
        ('trigger "Checkout API"', "Say which service and what is wrong"),
    ],
)
async def test_trigger_refuses_an_unknown_or_disabled_service_or_a_missing_title(
    bot: Bot, pagerduty: PagerDutyStandIn, text: str, says: str
) -> None:
    reply = await refused(bot, text)

    assert says in reply
    assert reads_only(pagerduty)


async def test_pagerdutys_echo_of_our_status_update_adds_no_second_thread_line(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await show_card(bot, slack)
    await bot.reply_to("update 123 rolled back")
    lines = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    envelope = json.loads(webhook("incident.status_update_published"))
    envelope["event"]["data"] = {
        "id": "PSTU001",
        "type": "incident_status_update",
        "incident": {"id": INCIDENT_123, "type": "incident_reference"},
        "message": "rolled back",
    }

    await bot.webhook(json.dumps(envelope).encode())
    # Applied in order per incident: once the next event's line is there, the echo was seen.
    await bot.webhook(webhook("incident.priority_updated"))

    def thread(s: SlackStandIn) -> list[str]:
        return [c.args["text"] for c in s.calls_to("chat.postMessage") if c.args.get("thread_ts")]

    await slack.wait_for(lambda s: len(thread(s)) > len(lines))
    assert thread(slack) == [
        *(c.args["text"] for c in lines),
        "Bob Builder changed the priority (in PagerDuty)",
    ]


async def test_our_status_update_and_its_trimmed_echo_show_as_one_without_a_second_redraw(
    bot: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    await show_card(bot, slack)
    await bot.reply_to("update 123 rolled back; errors falling")
    [posted] = pagerduty.status_updates[INCIDENT_123]
    redraws = len(slack.calls_to("chat.update"))
    envelope = json.loads(webhook("incident.status_update_published"))
    envelope["event"]["occurred_at"] = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    envelope["event"]["data"] = {
        "id": posted["id"],
        "type": "incident_status_update",
        "incident": {"id": INCIDENT_123, "type": "incident_reference"},
        "message": "rolled back; err",
        "trimmed": True,
    }

    await bot.webhook(json.dumps(envelope).encode())
    pagerduty.incidents[INCIDENT_123]["urgency"] = "low"  # so the next event redraws
    await bot.webhook(webhook("incident.priority_updated"))
    # Applied in order per incident: once the next event's line is there, the echo was seen.
    await slack.wait_for(
        lambda s: any(
            "changed the priority" in c.args["text"] for c in s.calls_to("chat.postMessage")
        )
    )

    [redraw] = slack.calls_to("chat.update")[redraws:]  # the echo's redraw was skipped
    [latest] = [b for b in redraw.args["blocks"] if b.get("block_id") == "incident_status_update"]
    created = datetime.fromisoformat(posted["created_at"].replace("Z", "+00:00"))
    assert latest["elements"][0]["text"] == (
        f":mega: Latest update {slack_date(created, '{ago}')}: rolled back; errors falling"
    )
