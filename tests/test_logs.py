"""Log lines a stranger cannot forge, and that never carry a secret, an email or a token:
not in the message, the `extra=` fields or a traceback, in either format, at any level."""

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import FORM, signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.logs import MIN_SECRET_LENGTH, Redact, Throttle, log_handler
from app.settings import Settings, load_settings
from tests.conftest import Bot
from tests.reliability.test_secrets import app_env, output_of, python_m_app, wait_ready

SECRET = "SECRETVALUE-3c1e9b7f"
FORGED = "2026-01-01 00:00:00,000 ERROR   [-] app.security: INJECTED admin login ok"


@contextmanager
def captured(fmt: str, secrets: list[str] = [SECRET]) -> Iterator[io.StringIO]:  # noqa: B006
    """What `python -m app`'s handler would print, while the block runs."""
    buffer = io.StringIO()
    handler = log_handler(fmt, secrets, stream=buffer)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@pytest.mark.parametrize("fmt", ["console", "json"])
@pytest.mark.parametrize("control", ["%0A", "%0D", "%0D%0A", "%1B%5B2K%0D", "%E2%80%A8", "%C2%85"])
async def test_a_path_with_a_line_break_cannot_forge_a_log_line(
    bot: Bot, fmt: str, control: str
) -> None:
    with captured(fmt) as output:
        response = await bot.http.get(f"/nothing{control}{FORGED.replace(' ', '%20')}")

    assert response.status_code == 404
    lines = output.getvalue().splitlines()
    # (the test's own httpx client logs the percent-encoded URL too)
    request_lines = [line for line in lines if "/nothing" in line and "HTTP Request" not in line]
    assert len(request_lines) == 1, lines
    assert not any(line.startswith(FORGED[:10]) for line in lines)
    for line in lines:
        assert line.isprintable()
        if fmt == "json":
            json.loads(line)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_secrets_emails_and_tokens_are_redacted_from_extra_fields_and_tracebacks(fmt: str) -> None:
    logger = logging.getLogger("tests.logs")
    with captured(fmt) as output:
        try:
            raise RuntimeError(f"connect failed with {SECRET} for alice@example.com\nforged")
        except RuntimeError:
            logger.exception(
                "call failed",
                extra={
                    "detail": f"key={SECRET}",
                    "nested": {"who": ["bob%40example.org"], "auth": "Bearer abcdefgh12345678"},
                    "user_token": "xoxp-1234-5678-abcdef",
                },
            )
        logger.warning("app token %s", "xapp-1-A0123-456-abc")

    text = output.getvalue()
    for leaked in (SECRET, "alice@", "bob%40", "abcdefgh12345678", "xoxp-1234", "xapp-1-A0123"):
        assert leaked not in text
    assert "[redacted]" in text
    assert "[email]" in text
    assert "[token]" in text
    if fmt == "console":  # the traceback's forged line is indented under its record
        assert "\nforged" not in text
        assert "\n    forged" in text


def test_a_short_secret_is_not_used_for_redaction_and_a_long_one_only_as_a_whole() -> None:
    redact = Redact(["s", "1234567", "long-secret-value"])
    assert redact.scrub("settings 1234567 long-secret") == "settings 1234567 long-secret"
    assert redact.scrub("x long-secret-value y") == "x [redacted] y"
    assert MIN_SECRET_LENGTH == 8


@given(
    before=st.text(max_size=50),
    after=st.text(max_size=50),
    secret=st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda s: s.strip() == s),
)
def test_a_secret_anywhere_in_any_text_never_survives_redaction(
    before: str, after: str, secret: str
) -> None:
    assert secret not in Redact([secret]).scrub(before + secret + after)


def test_email_redaction_takes_linear_time_on_a_40000_character_adversarial_word() -> None:
    hostile = "a@" + "." * 40_000 + "@" + "a" * 40_000 + "%40" + "-" * 40_000
    redact = Redact([])
    started = time.perf_counter()
    redact.scrub(hostile)
    # Generous: a quadratic pattern takes minutes here, a linear one a fraction of a second.
    assert time.perf_counter() - started < 5


def test_one_noisy_condition_logs_one_line_per_interval_saying_how_many_were_held() -> None:
    throttle = Throttle(seconds=0.2)
    records = [
        logging.makeLogRecord({"name": "asyncio", "msg": "socket.accept() out of system resource"})
        for _ in range(1000)
    ]
    passed = [r for r in records if throttle.filter(r)]
    time.sleep(0.25)
    later = logging.makeLogRecord(
        {"name": "asyncio", "msg": "socket.accept() out of system resource"}
    )

    assert len(passed) == 1
    assert throttle.filter(later)
    assert later.getMessage().endswith("(999 more like this held back)")
    ordinary = logging.makeLogRecord({"name": "app.http", "msg": "%s %s %s"})
    assert all(throttle.filter(ordinary) for _ in range(10))  # request lines are never held


def test_every_configured_secret_is_redacted_in_serve_mode_including_the_app_token(
    settings: Settings,
) -> None:
    app_token = "xapp-1-A0TESTAPP-1234567890-abcdef0123456789"
    with_app_token = load_settings(
        **{**settings.model_dump(), "_env_file": None, "slack_app_token": app_token}
    )
    secrets = with_app_token.secret_values
    assert app_token in secrets
    metrics_token = settings.metrics_token
    assert metrics_token is not None
    assert metrics_token.get_secret_value() in secrets
    with captured("console", secrets) as output:
        logging.getLogger("slack_bolt").error("socket mode failed with %s", app_token)
        logging.getLogger("tests").error("scrape with %s", metrics_token.get_secret_value())
    assert app_token not in output.getvalue()
    assert metrics_token.get_secret_value() not in output.getvalue()


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
async def test_python_m_app_never_logs_an_email_address_at_info_or_debug(
    slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path, level: str
) -> None:
    env = app_env(slack, pagerduty, tmp_path, "console") | {"LOG_LEVEL": level}
    response_url = f"{slack.url}/hooks/commands/T0G9PQBBK/1/x"  # type: ignore[attr-defined]
    body = slash_command_body("note 123 looked up by email", response_url=response_url)

    async with (
        python_m_app(env, tmp_path) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['PORT']}", timeout=10) as http,
    ):
        await wait_ready(http, process)
        signed = signed_headers(env["SLACK_SIGNING_SECRET"], body, FORM)
        await http.post("/slack/events", content=body, headers=signed)
        await slack.wait_for(lambda s: len(s.responses) == 1)
        await asyncio.sleep(0.2)

    assert any(r.path.endswith("/users") for r in pagerduty.requests)  # looked up by email
    stderr = output_of(tmp_path)[1].decode(errors="replace")
    assert "@example.com" not in stderr
    assert "%40example.com" not in stderr
    if level == "DEBUG":
        assert "[email]" in stderr  # httpx's request line is there, redacted
