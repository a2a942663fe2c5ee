"""Forged, stale, mangled and oversized Slack requests through the real app.

Each request is refused (401 from Bolt's signature check, 404/413 where Bolt or the app
answer otherwise, for reasons given next to the case) and causes no PagerDuty request,
no Slack Web API call other than Bolt's own `auth.test`, and no response_url message.

The app is driven with `raise_app_exceptions=False`, so a crash shows up as the 500 that
uvicorn would send rather than as an exception in the test.
"""

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import (
    FORM,
    JSON,
    events_body,
    interactivity_body,
    sign_slack,
    signed_headers,
    slash_command_body,
)
from app.demo.slack import SlackStandIn
from app.settings import Settings
from app.web import create_app
from tests.conftest import SIGNING_SECRET, Bot, fast_pagerduty_client
from tests.standins.contracts import load_slack_sample

Request = tuple[bytes, dict[str, str]]


@pytest.fixture
async def app(settings: Settings, slack: SlackStandIn) -> AsyncIterator[Bot]:
    """The started app; a crash is answered 500 as uvicorn would, not raised here."""
    web = create_app(settings, pagerduty=fast_pagerduty_client(settings))
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    async with (
        web.router.lifespan_context(web),
        httpx.AsyncClient(transport=transport, base_url="http://bot") as http,
    ):
        yield Bot(http, slack)


def hooks_url(slack: SlackStandIn) -> str:
    return f"{slack.url}/hooks/commands/T0G9PQBBK/5111111111111/AbCdEf"  # type: ignore[attr-defined]


def command_body(slack: SlackStandIn, text: str = "note 123 forged") -> bytes:
    return slash_command_body(text, response_url=hooks_url(slack))


def click_body(slack: SlackStandIn) -> bytes:
    payload = load_slack_sample("requests/block_actions.acknowledge_button.payload.json")
    payload["response_url"] = f"{slack.url}/hooks/actions/T0G9PQBBK/1/U0ALICE01"  # type: ignore[attr-defined]
    return interactivity_body(payload)


def mention_body(event_id: str = "EvFORGED0001") -> bytes:
    envelope = load_slack_sample("requests/event.app_mention.escalate_in_thread.json")
    envelope["event"]["text"] = "<@U0INCBOT1> ack 123"
    envelope["event_id"] = event_id
    return events_body(envelope)


def headers_with(timestamp: str, signature: str) -> dict[str, str]:
    return {
        "content-type": FORM,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature,
    }


def now() -> int:
    return int(time.time())


def v0(secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_posts(slack: SlackStandIn) -> list[str]:
    """Everything the bot sent to Slack, except Bolt's own `auth.test`."""
    calls = [f"{c.method} {c.args}" for c in slack.calls if c.method != "auth.test"]
    return calls + [f"response_url {r}" for r in slack.responses]


async def assert_nothing_done(pagerduty: PagerDutyStandIn, slack: SlackStandIn) -> None:
    await asyncio.sleep(0.2)  # let any work started after the answer show itself
    assert [(r.method, r.path) for r in pagerduty.requests] == []
    assert slack_posts(slack) == []


# --- the cases: each builds (body, headers) for a request the app must refuse ------------


def missing_timestamp(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    del headers["x-slack-request-timestamp"]
    return body, headers


def missing_signature(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    del headers["x-slack-signature"]
    return body, headers


def both_missing(slack: SlackStandIn) -> Request:
    return command_body(slack), {"content-type": FORM}


def wrong_secret_slash_command(slack: SlackStandIn) -> Request:
    body = command_body(slack, "resolve 123 forged")
    return body, signed_headers("not-the-signing-secret", body, FORM)


def wrong_secret_block_actions_click(slack: SlackStandIn) -> Request:
    body = click_body(slack)
    return body, signed_headers("not-the-signing-secret", body, FORM)


def wrong_secret_events_api_mention(slack: SlackStandIn) -> Request:
    body = mention_body()
    return body, signed_headers("not-the-signing-secret", body, JSON)


def wrong_secret_url_verification(slack: SlackStandIn) -> Request:
    body = events_body(load_slack_sample("requests/event.url_verification.json"))
    return body, signed_headers("not-the-signing-secret", body, JSON)


def signature_of_a_different_body(slack: SlackStandIn) -> Request:
    body = command_body(slack, "resolve 123 forged")
    other = command_body(slack, "help")
    return body, {"content-type": FORM, **sign_slack(SIGNING_SECRET, other)}


def one_byte_tampered(slack: SlackStandIn) -> Request:
    body = command_body(slack, "note 123 hello")
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    return body.replace(b"hello", b"hellp"), headers


def one_byte_appended(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body + b"&", signed_headers(SIGNING_SECRET, body, FORM)


def timestamp_six_minutes_old(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, signed_headers(SIGNING_SECRET, body, FORM, timestamp=now() - 6 * 60)


def timestamp_ten_minutes_ahead(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, signed_headers(SIGNING_SECRET, body, FORM, timestamp=now() + 10 * 60)


def timestamp_in_milliseconds(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, signed_headers(SIGNING_SECRET, body, FORM, timestamp=now() * 1000)


def v1_prefix_instead_of_v0(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    headers["x-slack-signature"] = "v1=" + headers["x-slack-signature"].removeprefix("v0=")
    return body, headers


def uppercase_hex(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    headers["x-slack-signature"] = "v0=" + headers["x-slack-signature"][3:].upper()
    return body, headers


def truncated_signature(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    headers["x-slack-signature"] = headers["x-slack-signature"][:-8]
    return body, headers


def empty_signature(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, signed_headers(SIGNING_SECRET, body, FORM) | {"x-slack-signature": ""}


def bare_prefix_signature(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, signed_headers(SIGNING_SECRET, body, FORM) | {"x-slack-signature": "v0="}


def replayed_signature_with_a_new_timestamp(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    captured = sign_slack(SIGNING_SECRET, body, timestamp=now() - 60)
    return body, {"content-type": FORM, **captured, "x-slack-request-timestamp": str(now())}


def valid_signature_with_spaces_before_the_timestamp(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    ts = now()
    headers = signed_headers(SIGNING_SECRET, body, FORM, timestamp=ts)
    return body, headers | {"x-slack-request-timestamp": f"  {ts}"}


def two_signatures_one_of_them_right(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    right = headers["x-slack-signature"]
    return body, headers | {"x-slack-signature": f"v0={'0' * 64},{right}"}


def signed_with_an_empty_secret(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    ts = str(now())
    signature = v0("", ts, body)
    return body, {
        "content-type": FORM,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def wrong_base_string_separator(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    ts = str(now())
    base = b"v0|" + ts.encode() + b"|" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return body, {
        "content-type": FORM,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def signed_with_sha1(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    ts = str(now())
    base = b"v0:" + ts.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha1).hexdigest()
    return body, {
        "content-type": FORM,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }


def forged_retry_of_an_event(slack: SlackStandIn) -> Request:
    body = mention_body("EvFORGEDRETRY")
    headers = signed_headers("not-the-signing-secret", body, JSON)
    return body, headers | {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}


REFUSED_401: list[Callable[[SlackStandIn], Request]] = [
    missing_timestamp,
    missing_signature,
    both_missing,
    wrong_secret_slash_command,
    wrong_secret_block_actions_click,
    wrong_secret_events_api_mention,
    wrong_secret_url_verification,
    signature_of_a_different_body,
    one_byte_tampered,
    one_byte_appended,
    timestamp_six_minutes_old,
    timestamp_ten_minutes_ahead,
    timestamp_in_milliseconds,
    v1_prefix_instead_of_v0,
    uppercase_hex,
    truncated_signature,
    empty_signature,
    bare_prefix_signature,
    replayed_signature_with_a_new_timestamp,
    valid_signature_with_spaces_before_the_timestamp,
    two_signatures_one_of_them_right,
    signed_with_an_empty_secret,
    wrong_base_string_separator,
    signed_with_sha1,
    forged_retry_of_an_event,
]


@pytest.mark.parametrize("build", REFUSED_401, ids=lambda f: f.__name__)
async def test_a_request_without_a_valid_fresh_signature_is_refused_401_and_does_nothing(
    app: Bot,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
    build: Callable[[SlackStandIn], Request],
) -> None:
    body, headers = build(slack)

    response = await app.http.post("/slack/events", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid request"}
    assert "challenge" not in response.text  # a forged url_verification is not echoed
    await assert_nothing_done(pagerduty, slack)


async def test_a_refused_request_leaves_the_app_working_for_the_real_one(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    for build in (wrong_secret_slash_command, timestamp_six_minutes_old, uppercase_hex):
        body, headers = build(slack)
        assert (
            await app.http.post("/slack/events", content=body, headers=headers)
        ).status_code == 401

    body = command_body(slack, "note 123 the real one")
    response = await app.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM)
    )

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.responses) == 1)
    assert [n["content"] for n in pagerduty.notes["PT4KHLK"]] == ["the real one"]


# --- refused by size, before any signature work ------------------------------------------


async def test_a_body_over_1_mib_is_refused_413_before_its_signature_is_checked(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    body = command_body(slack, "note 123 " + "x" * (1024 * 1024))
    headers = signed_headers(SIGNING_SECRET, body, FORM)  # even correctly signed

    response = await app.http.post("/slack/events", content=body, headers=headers)

    assert response.status_code == 413
    await assert_nothing_done(pagerduty, slack)


@pytest.mark.parametrize("declared", ["12abc", "²", "1" * 5000, "٣"])
async def test_a_content_length_that_is_not_a_number_is_refused_413(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, declared: str
) -> None:
    body = command_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, FORM)
    raw = {name: value.encode() for name, value in headers.items()}
    raw["content-length"] = declared.encode()

    response = await app.http.post("/slack/events", content=body, headers=raw)

    assert response.status_code == 413
    await assert_nothing_done(pagerduty, slack)


async def test_a_chunked_body_over_1_mib_without_content_length_is_refused_413(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(2 * 1024):
            yield b"x" * 1024

    headers = signed_headers("not-the-signing-secret", b"", FORM)

    response = await app.http.post("/slack/events", content=chunks(), headers=headers)

    assert response.status_code == 413
    await assert_nothing_done(pagerduty, slack)


# --- validly signed, but nothing to act on ---------------------------------------------------


async def test_an_empty_body_with_a_valid_signature_of_the_empty_body_is_a_404_and_does_nothing(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    # The signature is genuine, so Bolt goes on (and calls auth.test), but an empty body
    # matches no listener: Bolt answers 404 "unhandled request".
    response = await app.http.post(
        "/slack/events", content=b"", headers=signed_headers(SIGNING_SECRET, b"", FORM)
    )

    assert response.status_code == 404
    assert response.json() == {"error": "unhandled request"}
    await assert_nothing_done(pagerduty, slack)


async def test_a_valid_signature_with_text_plain_is_authentic_and_acts_exactly_once(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> None:
    # Slack's signature covers the timestamp and body, not the Content-Type, and Bolt
    # parses a form body whatever the header says. Only the secret's holder can make this
    # request, so acting on it is correct; what matters is that it acts once.
    body = command_body(slack, "note 123 plain text")

    response = await app.http.post(
        "/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, "text/plain")
    )

    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.responses) == 1)
    await asyncio.sleep(0.1)
    assert [n["content"] for n in pagerduty.notes["PT4KHLK"]] == ["plain text"]
    assert len(pagerduty.writes) == 1


# --- app bugs: unauthenticated requests that make the bot act -----------------------------


@pytest.mark.parametrize("timestamp", ["abc", "1e9", "", "12:34"])
@pytest.mark.parametrize("kind", ["slash_command", "events_api_mention"])
async def test_a_non_numeric_timestamp_is_refused_401_and_does_nothing(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, kind: str, timestamp: str
) -> None:
    if kind == "slash_command":
        body, content_type = command_body(slack), FORM
    else:
        body, content_type = mention_body(), JSON
    headers = signed_headers(SIGNING_SECRET, body, content_type)
    headers["x-slack-request-timestamp"] = timestamp

    response = await app.http.post("/slack/events", content=body, headers=headers)

    await asyncio.sleep(0.2)
    assert slack_posts(slack) == []  # fails: the forged request made the bot post
    assert response.status_code == 401
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"text=note+123+x&user_id=U0ALICE01", JSON), (b"{not json", FORM)],
    ids=["form_body_as_json", "brace_body_as_form"],
)
async def test_an_unparsable_forged_body_is_refused_4xx_not_500(
    app: Bot, pagerduty: PagerDutyStandIn, slack: SlackStandIn, body: bytes, content_type: str
) -> None:
    response = await app.http.post(
        "/slack/events", content=body, headers=signed_headers("not-the-secret", body, content_type)
    )

    await assert_nothing_done(pagerduty, slack)  # holds: nothing is done
    assert 400 <= response.status_code < 500  # fails: 500


# --- unsigned requests whose headers or body are not even well-formed ---------------------


def superscript_digit_timestamp(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, headers_with("²" * 10, v0(SIGNING_SECRET, str(now()), body))


def five_thousand_digit_timestamp(slack: SlackStandIn) -> Request:
    body = command_body(slack)
    return body, headers_with("1" * 5000, v0(SIGNING_SECRET, str(now()), body))


def non_ascii_signature(slack: SlackStandIn) -> Request:
    return command_body(slack), headers_with(str(now()), "v0=é")


def invalid_utf8_body_with_a_bogus_signature(slack: SlackStandIn) -> Request:
    return b"text=\xff\xfe\xfa&user_id=U0ALICE01", headers_with(str(now()), "v0=" + "0" * 64)


@pytest.mark.parametrize(
    "build",
    [
        superscript_digit_timestamp,
        five_thousand_digit_timestamp,
        non_ascii_signature,
        invalid_utf8_body_with_a_bogus_signature,
    ],
    ids=lambda f: f.__name__,
)
async def test_a_malformed_unsigned_request_is_refused_401_with_one_log_line_not_a_traceback(
    app: Bot,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
    build: Callable[[SlackStandIn], Request],
    caplog: pytest.LogCaptureFixture,
) -> None:
    body, headers = build(slack)
    # httpx sends header values as Latin-1/UTF-8 bytes exactly as a raw client would.
    raw = {name: value.encode() for name, value in headers.items()}

    with caplog.at_level(logging.INFO):
        response = await app.http.post("/slack/events", content=body, headers=raw)

    assert response.status_code == 401, response.text
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().partition(":")[0] for r in warnings] == ["slack request refused"]
    assert [r for r in caplog.records if r.exc_info] == []
    await assert_nothing_done(pagerduty, slack)
