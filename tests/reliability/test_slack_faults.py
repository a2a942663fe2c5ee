"""Slack's Web API (and response_url) failing under every call the bot makes: the bot
survives (the next request is served), PagerDuty is changed at most once, and whoever can
still be told hears something true."""

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk.http_retry import builtin_async_handlers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.server import serve_on_loopback
from app.demo.signing import FORM, signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.ids import ActionId, Shortcut
from tests.conftest import CARD_TS, SIGNING_SECRET, Bot, show_card
from tests.listeners.test_threads import mention, shortcut_payload

INCIDENT = "PT4KHLK"

FAULTS: dict[str, dict[str, Any]] = {
    # three 429s outlast the client's two Retry-After retries
    "ratelimited": {"status": 429, "error": "ratelimited", "headers": {"retry-after": "0"}},
    "server_error": {"status": 500, "error": "internal_error"},
    "invalid_auth": {"error": "invalid_auth"},
    "channel_not_found": {"error": "channel_not_found"},
    "not_in_channel": {"error": "not_in_channel"},
    "message_not_found": {"error": "message_not_found"},
}
ANY = ["ratelimited", "server_error", "invalid_auth"]
IN_CHANNEL = [*ANY, "channel_not_found", "not_in_channel"]


def fail(slack: SlackStandIn, method: str, fault: str) -> None:
    options = dict(FAULTS[fault])
    slack.fail_next(method, times=3 if fault == "ratelimited" else 1, **options)


@pytest.fixture(autouse=True)
def no_retry_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk sleeps Retry-After plus up to 1 s of jitter; keep Retry-After, drop jitter."""
    monkeypatch.setattr(builtin_async_handlers, "random", SimpleNamespace(random=lambda: 0.0))


async def still_serving(bot: Bot) -> None:
    """The bot did not crash: the next command is answered."""
    [reply] = await bot.reply_to("help")
    assert "/incident ack" in reply["text"]


def ephemerals(slack: SlackStandIn) -> list[str]:
    return [str(c.args["text"]) for c in slack.calls_to("chat.postEphemeral")]


# --- users.info ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ANY)
async def test_users_info_failing_stops_before_pagerduty_and_says_so(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    fail(slack, "users.info", fault)

    [reply] = await bot.reply_to("ack 123")

    assert "Slack did not tell the bot who you are" in reply["text"]
    assert "nothing was sent to PagerDuty" in reply["text"]
    assert pagerduty.requests == []
    await still_serving(bot)


@pytest.mark.parametrize("fault", ANY)
async def test_users_info_failing_for_a_notes_author_still_adds_the_note_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, fault: str
) -> None:
    await bot.reply_to("whoami")  # the actor is verified; only the author lookup fails
    fail(slack, "users.info", fault)

    await bot.interact(shortcut_payload(Shortcut.ADD_NOTE, bot))

    await slack.wait_for(lambda s: len(s.responses) == 2)
    assert "Added to the notes of" in slack.responses[1]["text"]
    [note] = pagerduty.notes[INCIDENT]
    assert "— U0BOB0002 in Slack" in note["content"]  # the author's id stands in for a name


# --- chat.postMessage: the card, and the line in its thread ---------------------------------


@pytest.mark.parametrize("fault", IN_CHANNEL)
async def test_posting_a_card_failing_is_told_and_writes_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    fail(slack, "chat.postMessage", fault)

    [reply] = await bot.reply_to("show 123")

    assert "I could not post the card" in reply["text"]
    assert pagerduty.writes == []
    await still_serving(bot)


@pytest.mark.parametrize("fault", IN_CHANNEL)
async def test_the_thread_line_failing_after_a_click_still_acknowledges_once_and_says_done(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    card = await show_card(bot, slack)
    fail(slack, "chat.postMessage", fault)

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    told = slack.responses[0]["text"]
    assert told.startswith("Done: Alice Example acknowledged")
    assert "would not update the card" in told
    assert len(pagerduty.writes) == 1
    assert pagerduty.incidents[INCIDENT]["status"] == "acknowledged"


@pytest.mark.parametrize("fault", IN_CHANNEL)
async def test_the_thread_line_failing_after_a_command_still_announces_the_change_once(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    await show_card(bot, slack)
    fail(slack, "chat.postMessage", fault)

    [reply] = await bot.reply_to("ack 123")

    assert reply["response_type"] == "in_channel"
    assert "acknowledged" in reply["text"]
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize("fault", IN_CHANNEL)
async def test_the_reply_to_a_mention_failing_leaves_one_escalation_and_says_check_pagerduty(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, fault: str
) -> None:
    fail(slack, "chat.postMessage", fault)

    await bot.event(mention("escalate"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    [told] = ephemerals(slack)
    assert "check the incident in PagerDuty" in told
    assert [w.json["incident"]["escalation_level"] for w in pagerduty.writes] == [2]


# --- chat.update ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["invalid_auth", "channel_not_found", "not_in_channel"])
async def test_redrawing_a_card_failing_after_a_click_still_acknowledges_once_and_says_done(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    # message_not_found, 500 and ratelimited: tests/listeners/test_incident_card.py
    card = await show_card(bot, slack)
    fail(slack, "chat.update", fault)

    await bot.click(card, ActionId.ACKNOWLEDGE)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert slack.responses[0]["text"].startswith("Done: Alice Example acknowledged")
    assert len(pagerduty.writes) == 1


@pytest.mark.parametrize("fault", [*IN_CHANNEL, "message_not_found"])
async def test_refreshing_a_card_with_show_failing_is_told_and_writes_nothing(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    await show_card(bot, slack)
    fail(slack, "chat.update", fault)

    [reply] = await bot.reply_to("show 123")

    assert "I could not update the card" in reply["text"]
    assert pagerduty.writes == []


@pytest.mark.parametrize("fault", [*IN_CHANNEL, "message_not_found"])
async def test_a_webhook_redraw_that_slack_refuses_is_retried_and_never_writes(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    from tests.test_webhooks import webhook

    await show_card(bot, slack)
    fail(slack, "chat.update", fault)
    pagerduty.incidents[INCIDENT]["status"] = "acknowledged"  # done in PagerDuty's app

    assert (await bot.webhook(webhook("incident.acknowledged"))).status_code == 202

    failures = 3 if fault == "ratelimited" else 1
    await slack.wait_for(lambda s: len(s.calls_to("chat.update")) >= failures + 1)
    assert pagerduty.writes == []


# --- chat.postEphemeral ------------------------------------------------------------------------


@pytest.mark.parametrize("fault", IN_CHANNEL)
async def test_an_error_that_cannot_be_posted_ephemerally_is_logged_and_the_bot_carries_on(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.add_message("C0INCIDENTS", CARD_TS, "lunch?")  # not a card: the mention is refused
    fail(slack, "chat.postEphemeral", fault)

    await bot.event(mention("escalate"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) >= 1)
    await asyncio.sleep(0.2)
    assert "could not tell the person what went wrong" in caplog.text
    assert pagerduty.writes == []
    await still_serving(bot)


# --- conversations.replies ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["invalid_auth", "channel_not_found", "server_error"])
async def test_a_thread_that_cannot_be_read_writes_nothing_and_says_why(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, fault: str
) -> None:
    # not_in_channel and ratelimited: tests/listeners/test_threads.py
    fail(slack, "conversations.replies", fault)

    await bot.event(mention("ack"))

    await slack.wait_for(lambda s: len(s.calls_to("chat.postEphemeral")) == 1)
    [told] = ephemerals(slack)
    assert "couldn't read this thread" in told
    assert "nothing was changed" in told
    assert pagerduty.writes == []


# --- views.open / views.update ------------------------------------------------------------------


@pytest.mark.parametrize("fault", [*ANY, "expired_trigger_id"])
async def test_a_resolve_modal_that_cannot_open_resolves_nothing_and_the_clicker_hears(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, fault: str
) -> None:
    card = await show_card(bot, slack)
    if fault == "expired_trigger_id":
        slack.fail_next("views.open", error="expired_trigger_id")
    else:
        fail(slack, "views.open", fault)

    await bot.click(card, ActionId.RESOLVE)

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "check the incident in PagerDuty" in slack.responses[0]["text"]
    assert pagerduty.writes == []
    await still_serving(bot)


@pytest.mark.parametrize("fault", ANY)
async def test_an_escalate_modal_that_cannot_be_filled_in_escalates_nothing_and_says_so(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, fault: str
) -> None:
    fail(slack, "views.update", fault)

    await bot.interact(shortcut_payload(Shortcut.ESCALATE, bot))

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "check the incident in PagerDuty" in slack.responses[0]["text"]
    assert pagerduty.writes == []


# --- chat.getPermalink ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [*IN_CHANNEL, "message_not_found"])
async def test_a_missing_permalink_still_adds_the_note_once_without_a_link(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None, fault: str
) -> None:
    fail(slack, "chat.getPermalink", fault)

    await bot.interact(shortcut_payload(Shortcut.ADD_NOTE, bot))

    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert "Added to the notes of" in slack.responses[0]["text"]
    [note] = pagerduty.notes[INCIDENT]
    assert note["content"].endswith(" in Slack")  # no ": <permalink>"
    assert len(pagerduty.writes) == 1


# --- response_url -----------------------------------------------------------------------------


@pytest.fixture
async def broken_hooks() -> AsyncIterator[tuple[str, list[int]]]:
    """A response_url host answering by path: /500, /429, /404; records what it was sent."""
    seen: list[int] = []

    async def hook(request: Request) -> Response:
        status = int(request.path_params["status"])
        seen.append(status)
        return PlainTextResponse("no", status_code=status, headers={"retry-after": "0"})

    app = Starlette(routes=[Route("/{status:int}", hook, methods=["POST"])])
    async with serve_on_loopback(app) as url:
        yield url, seen


@pytest.mark.parametrize("where", ["500", "429", "404", "refused"])
async def test_a_failing_response_url_leaves_one_acknowledgement_and_a_working_bot(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    broken_hooks: tuple[str, list[int]],
    where: str,
) -> None:
    base, seen = broken_hooks
    url = "http://127.0.0.1:9/hook" if where == "refused" else f"{base}/{where}"
    body = slash_command_body("ack 123", response_url=url)

    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(pagerduty.writes) == 1)
    await asyncio.sleep(0.3)
    assert len(pagerduty.writes) == 1
    assert pagerduty.incidents[INCIDENT]["status"] == "acknowledged"
    if where != "refused":
        assert seen == [int(where)]  # the announcement, sent once, not retried into a loop
    await still_serving(bot)
