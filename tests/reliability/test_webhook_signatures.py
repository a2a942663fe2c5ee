"""Refused PagerDuty webhook deliveries (beyond tests/test_webhooks.py's cases): each is
answered 401 or 413, posts nothing, and stores nothing: the same event id delivered
correctly afterwards is accepted (202) as new, and posts exactly one card."""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import SecretStr

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.settings import Settings
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET, Bot, cards_posted, running_bot
from tests.test_webhooks import webhook

EVENT_ID = "01REFUSEDTHENACCEPTED0001"


def hex_sig(secret: str, body: bytes, digest: str = "sha256") -> str:
    return hmac.new(secret.encode(), body, digest).hexdigest()


def good(body: bytes) -> str:
    return f"v1={hex_sig(WEBHOOK_SECRET, body)}"


Delivery = tuple[bytes, dict[str, str]]


def with_signature(body: bytes, signature: str) -> Delivery:
    return body, {"content-type": "application/json", "x-pagerduty-signature": signature}


def signature_over_a_different_body(body: bytes) -> Delivery:
    other = webhook("incident.triggered", event_id="01SOMEOTHEREVENT00000000")
    return with_signature(body, good(other))


def signature_over_the_body_plus_a_newline(body: bytes) -> Delivery:
    return with_signature(body, good(body + b"\n"))


def body_reserialised_after_signing(body: bytes) -> Delivery:
    pretty = json.dumps(json.loads(body), indent=2).encode()  # same JSON, other bytes
    return with_signature(pretty, good(body))


def semicolon_separated(body: bytes) -> Delivery:
    return with_signature(body, f"v1={'a' * 64};{good(body)}")


def space_separated(body: bytes) -> Delivery:
    return with_signature(body, f"v1={'a' * 64} {good(body)}")


def pipe_separated(body: bytes) -> Delivery:
    return with_signature(body, f"{good(body)}|v1={'b' * 64}")


def garbage_glued_to_the_signature(body: bytes) -> Delivery:
    return with_signature(body, f"{good(body)}00")


def many_bogus_v1_values(body: bytes) -> Delivery:
    bogus = ",".join(f"v1={hex_sig(str(i), body)}" for i in range(500))
    return with_signature(body, bogus)


def uppercase_hex(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hex_sig(WEBHOOK_SECRET, body).upper())


def uppercase_scheme(body: bytes) -> Delivery:
    return with_signature(body, "V1=" + hex_sig(WEBHOOK_SECRET, body))


def computed_with_sha1(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hex_sig(WEBHOOK_SECRET, body, "sha1"))


def computed_with_sha512(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hex_sig(WEBHOOK_SECRET, body, "sha512"))


def base64_instead_of_hex(body: bytes) -> Delivery:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).digest()
    return with_signature(body, "v1=" + base64.b64encode(digest).decode())


def plain_sha256_without_a_key(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hashlib.sha256(body).hexdigest())


def keyed_with_the_slack_signing_secret(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hex_sig(SIGNING_SECRET, body))


def keyed_with_an_empty_secret(body: bytes) -> Delivery:
    return with_signature(body, "v1=" + hex_sig("", body))


def the_secret_itself_as_the_signature(body: bytes) -> Delivery:
    return with_signature(body, f"v1={WEBHOOK_SECRET}")


def signature_in_another_header(body: bytes) -> Delivery:
    return body, {"content-type": "application/json", "x-pagerduty-signature-v1": good(body)}


REFUSED_401: list[Callable[[bytes], Delivery]] = [
    signature_over_a_different_body,
    signature_over_the_body_plus_a_newline,
    body_reserialised_after_signing,
    semicolon_separated,
    space_separated,
    pipe_separated,
    garbage_glued_to_the_signature,
    many_bogus_v1_values,
    uppercase_hex,
    uppercase_scheme,
    computed_with_sha1,
    computed_with_sha512,
    base64_instead_of_hex,
    plain_sha256_without_a_key,
    keyed_with_the_slack_signing_secret,
    keyed_with_an_empty_secret,
    the_secret_itself_as_the_signature,
    signature_in_another_header,
]


async def refused_then_accepted(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, delivery: Delivery, status: int
) -> None:
    """The refused delivery does nothing; the genuine one of the same event id is new."""
    body, headers = delivery
    refused = await bot.http.post("/pagerduty/webhooks", content=body, headers=headers)
    assert refused.status_code == status, refused.text
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []
    assert pagerduty.requests == []

    genuine = webhook("incident.triggered", event_id=EVENT_ID)
    accepted = await bot.webhook(genuine)
    assert accepted.status_code == 202, accepted.text  # 200 "duplicate" would mean stored
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)
    await asyncio.sleep(0.1)
    assert len(cards_posted(slack)) == 1
    assert pagerduty.writes == []


@pytest.mark.parametrize("forge", REFUSED_401, ids=lambda f: f.__name__)
async def test_a_delivery_without_a_matching_signature_is_refused_and_not_recorded(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    forge: Callable[[bytes], Delivery],
) -> None:
    body = webhook("incident.triggered", event_id=EVENT_ID)
    await refused_then_accepted(bot, slack, pagerduty, forge(body), 401)


@pytest.fixture
async def rotated_bot(settings: Settings, slack: SlackStandIn) -> AsyncIterator[Bot]:
    """WEBHOOK_SECRET has been rotated out: only two newer secrets are configured."""
    rotated = settings.model_copy(
        update={"pagerduty_webhook_secrets": SecretStr("new-secret-2026a, new-secret-2026b")}
    )
    async with running_bot(rotated, slack) as bot:
        yield bot


async def test_a_signature_made_with_a_rotated_out_secret_is_refused(
    rotated_bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    body = webhook("incident.triggered", event_id=EVENT_ID)
    response = await rotated_bot.webhook(body, secret=WEBHOOK_SECRET)
    assert response.status_code == 401
    await asyncio.sleep(0.2)
    assert slack.calls_to("chat.postMessage") == []

    accepted = await rotated_bot.webhook(body, secret="new-secret-2026b")
    assert accepted.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)


@pytest.mark.parametrize(
    "header", ["X-PagerDuty-Signature", "X-PAGERDUTY-SIGNATURE", "x-pagerduty-signature"]
)
async def test_the_header_name_is_case_insensitive_so_a_wrong_value_is_refused_in_any_case(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, header: str
) -> None:
    body = webhook("incident.triggered", event_id=EVENT_ID)
    forged = {"content-type": "application/json", header: "v1=" + hex_sig("wrong", body)}
    await refused_then_accepted(bot, slack, pagerduty, (body, forged), 401)


async def test_a_correctly_signed_delivery_is_accepted_whatever_the_header_names_case(
    bot: Bot, slack: SlackStandIn
) -> None:
    body = webhook("incident.triggered")
    headers = {"Content-Type": "application/json", "X-PAGERDUTY-SIGNATURE": good(body)}
    response = await bot.http.post("/pagerduty/webhooks", content=body, headers=headers)
    assert response.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)


# --- size: refused before the signature is even computed -------------------------------------


def padded(size: int) -> bytes:
    """A real event padded with JSON whitespace to `size` bytes, correctly signed."""
    body = webhook("incident.triggered", event_id=EVENT_ID)
    return body[:-1] + b" " * (size - len(body)) + b"}"


async def test_a_600_kib_delivery_streamed_without_content_length_is_refused_413(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    body = padded(600 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {"content-type": "application/json", "x-pagerduty-signature": good(body)}
    response = await bot.http.post("/pagerduty/webhooks", content=chunks(), headers=headers)
    assert response.status_code == 413
    await refused_then_accepted(bot, slack, pagerduty, (b"", {}), 401)


async def test_a_declared_content_length_over_512_kib_is_refused_413_even_with_a_small_body(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    body = webhook("incident.triggered", event_id=EVENT_ID)
    request = httpx.Request(
        "POST",
        "http://bot/pagerduty/webhooks",
        content=body,
        headers={"content-type": "application/json", "x-pagerduty-signature": good(body)},
    )
    request.headers["content-length"] = str(600 * 1024)
    response = await bot.http.send(request)
    assert response.status_code == 413
    await refused_then_accepted(bot, slack, pagerduty, (b"", {}), 401)


async def test_a_correctly_signed_delivery_just_under_512_kib_is_accepted(
    bot: Bot, slack: SlackStandIn
) -> None:
    body = padded(512 * 1024)
    response = await bot.webhook(body)
    assert response.status_code == 202
    await slack.wait_for(lambda s: len(cards_posted(s)) == 1)


@pytest.mark.parametrize("signature", ["v1=é", "v1=" + "é" * 64, "v1=\u0660" * 3])
async def test_a_non_ascii_signature_is_refused_401_with_one_log_line_not_a_traceback(
    bot: Bot,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    signature: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = webhook("incident.triggered", event_id=EVENT_ID)
    headers = {"content-type": "application/json", "x-pagerduty-signature": signature.encode()}

    with caplog.at_level(logging.INFO):
        response = await bot.http.post("/pagerduty/webhooks", content=body, headers=headers)

    assert response.status_code == 401, response.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["webhook refused: signature missing or wrong"]
    assert [r for r in caplog.records if r.exc_info] == []
