"""Whatever a person types after `/incident` (and whatever their channel is called) reaches
the command's handler: signed slash-command form bodies built like Slack's, over arbitrary
text and over every field name Slack uses in its request bodies."""

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.demo.signing import FORM, new_trigger_id, signed_headers
from app.demo.slack import SlackStandIn
from app.incidents.usage import USAGE
from tests.conftest import SIGNING_SECRET, Bot
from tests.standins.contracts import load_slack_sample

# The top-level field names (and a few values) of Slack's request bodies: slash commands,
# interactivity payloads, Events API envelopes, url_verification, ssl_check, Socket Mode.
SLACK_FIELD_NAMES = [
    "payload", "type", "token", "command", "text", "trigger_id", "ssl_check", "challenge",
    "event", "event_id", "event_time", "event_context", "authorizations", "api_app_id",
    "team_id", "team_domain", "enterprise_id", "enterprise_name", "is_enterprise_install",
    "channel_id", "channel_name", "user_id", "user_name", "response_url", "response_urls",
    "actions", "action_ts", "callback_id", "view", "container", "message", "message_ts",
    "state", "team", "user", "channel", "enterprise", "submission", "is_ext_shared_channel",
    "envelope_id", "retry_attempt", "retry_reason", "accepts_response_payload",
    "url_verification", "event_callback", "block_actions", "view_submission",
    "message_action", "shortcut", "app_rate_limited",
]  # fmt: skip

_field_like = st.sampled_from(SLACK_FIELD_NAMES)
_word = st.one_of(
    _field_like,
    st.builds(lambda k, v: f"{k}={v}", _field_like, st.sampled_from(["1", "", "{}", "x"])),
    st.builds(lambda k: f'{{"{k}": "1"}}', _field_like),
    st.text(min_size=1, max_size=12),
)
texts = st.one_of(
    st.text(max_size=80),
    st.lists(_word, max_size=6).map(" ".join),
    st.lists(_word, max_size=4).map("&".join),
    st.lists(_word, max_size=4).map(lambda words: "ack 123 " + " ".join(words)),
)
channel_names = st.one_of(
    st.just("incidents"), _field_like.map(lambda name: f"{name}-alerts".replace("_", "-"))
)


def command_body(text: str, channel_name: str, response_url: str) -> bytes:
    fields: dict[str, Any] = load_slack_sample("requests/slash_command.incident_resolve.form.json")
    # Each command Slack sends has a trigger_id of its own (a repeated one is a replay).
    fields.update(
        text=text,
        channel_name=channel_name,
        response_url=response_url,
        trigger_id=new_trigger_id(),
    )
    return urlencode(fields).encode()


def handled(slack: SlackStandIn) -> int:
    """What the handler leaves behind: an answer to the person, or a card posted."""
    return len(slack.responses) + len(slack.calls_to("chat.postMessage"))


@settings(
    max_examples=60,
    deadline=None,
    # One running bot serves every example, as one process serves every person.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=texts, channel_name=channel_names)
async def test_every_command_text_reaches_the_handler(
    bot: Bot, slack: SlackStandIn, text: str, channel_name: str
) -> None:
    before = handled(slack)
    body = command_body(text, channel_name, bot.response_url)
    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )
    assert response.status_code == 200, (text, response.status_code, response.text)
    await slack.wait_for(lambda s: handled(s) > before)


async def test_a_text_with_the_word_payload_gets_the_usage(bot: Bot) -> None:
    [reply] = await bot.reply_to("payload")
    assert USAGE in reply["text"]


async def test_a_channel_named_after_a_slack_field_still_takes_commands(
    bot: Bot, slack: SlackStandIn
) -> None:
    body = command_body("whoami", "payload-alerts", bot.response_url)
    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )
    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.responses) == 1)


async def test_an_empty_command_gets_the_usage(bot: Bot) -> None:
    [reply] = await bot.reply_to("")
    assert reply["text"] == "Tell me what to do.\n" + USAGE


async def test_a_text_that_looks_like_an_ssl_check_is_a_command(bot: Bot) -> None:
    [reply] = await bot.reply_to("ssl_check=1")
    assert USAGE in reply["text"]


async def test_slacks_ssl_check_is_answered_200_and_nothing_else(
    bot: Bot, slack: SlackStandIn
) -> None:
    # Slack's certificate check: a signed form with ssl_check=1 and a token, no command.
    body = urlencode({"ssl_check": "1", "token": "legacy-verification-token"}).encode()
    calls_before = len(slack.calls)
    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )
    assert response.status_code == 200
    assert response.text == ""
    assert len(slack.calls) == calls_before
    assert slack.responses == []


async def test_an_interactivity_payload_that_is_not_an_object_is_refused(bot: Bot) -> None:
    body = b"payload=%5B1%5D"  # payload=[1]
    response = await bot.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )
    assert response.status_code == 400
    assert response.text == "malformed request body"
