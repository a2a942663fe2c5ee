"""No secret ever leaves the bot: not in a log line (DEBUG, every logger, in-process and
from `python -m app`'s stderr), an exception message, a response body, /metrics, or
anything sent to Slack or in a PagerDuty request body, through successes and failures
alike (PagerDuty 401, forged Slack and webhook signatures, Slack invalid_auth, bad config).
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.signing import FORM, signed_headers, slash_command_body
from app.demo.slack import SlackStandIn
from app.logs import JsonFormatter
from app.settings import ConfigError, Settings, load_settings
from tests.conftest import METRICS_TOKEN, free_port, running_bot
from tests.test_webhooks import webhook

BOT_TOKEN = "xoxb-SECRETBOT-4f1c9e7a2b6d"
SIGNING_SECRET = "SECRETSIGN-8d3b2a6c1e0f"
PAGERDUTY_KEY = "SECRETPDKEY-6a9f2c4e8b1d"
WEBHOOK_SECRET = "SECRETHOOK-1e7d5b3a9c2f"
SECRETS = [BOT_TOKEN, SIGNING_SECRET, PAGERDUTY_KEY, WEBHOOK_SECRET]
REPO = Path(__file__).resolve().parents[2]


def leaks(text: str) -> list[str]:
    """Each secret, or a distinctive half of it, found in `text`."""
    found = []
    for secret in SECRETS:
        tail = secret.split("-", 1)[1]
        if secret in text or tail in text:
            found.append(secret)
    return found


@pytest.fixture
def secret_settings(
    settings: Settings, pagerduty: PagerDutyStandIn, slack: SlackStandIn
) -> Settings:
    pagerduty.api_token = PAGERDUTY_KEY
    slack.bot_token = BOT_TOKEN
    return load_settings(
        **{
            **settings.model_dump(),
            "_env_file": None,
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "pagerduty_api_token": PAGERDUTY_KEY,
            "pagerduty_webhook_secrets": f"old-rotated-secret,{WEBHOOK_SECRET}",
        }
    )


def signed_command(text: str, response_url: str, secret: str = SIGNING_SECRET) -> dict[str, Any]:
    body = slash_command_body(text, response_url=response_url)
    return {"content": body, "headers": signed_headers(secret, body, FORM)}


def signed_webhook(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, Any]:
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "content": body,
        "headers": {"content-type": "application/json", "x-pagerduty-signature": signature},
    }


async def drive(
    http: httpx.AsyncClient,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    response_url: str,
) -> list[str]:
    """A morning's traffic, good and bad; returns every response body the bot gave."""
    bodies = []

    async def post(path: str, **request: Any) -> None:
        bodies.append((await http.post(path, **request)).text)

    async def answered(count: int) -> None:
        await slack.wait_for(lambda s: len(s.responses) >= count, timeout=10)

    await post("/slack/events", **signed_command("whoami", response_url))
    await answered(1)
    await post("/slack/events", **signed_command("ack 123", response_url))
    await answered(2)
    pagerduty.fail_next("GET", "/incidents", 401)  # our key is refused
    await post("/slack/events", **signed_command("resolve 123", response_url))
    await answered(3)
    slack.fail_next("users.info", error="invalid_auth")  # our token is refused
    body = slash_command_body("note 123 again", user_id="U0BOB0002", response_url=response_url)
    await post("/slack/events", content=body, headers=signed_headers(SIGNING_SECRET, body, FORM))
    await answered(4)
    await post("/slack/events", **signed_command("resolve 123", response_url, "forged"))
    await post("/pagerduty/webhooks", **signed_webhook(webhook("incident.acknowledged")))
    forged = signed_webhook(webhook("incident.resolved"), "forged")
    await post("/pagerduty/webhooks", **forged)
    await post("/pagerduty/webhooks", content=b"{not json", headers=forged["headers"])
    await asyncio.sleep(0.3)  # card sync's work after the 202
    scraper = {"authorization": f"Bearer {METRICS_TOKEN}"}
    for path in ("/metrics", "/healthz", "/readyz"):
        bodies.append((await http.get(path, headers=scraper)).text)
    return bodies


def what_left(slack: SlackStandIn, pagerduty: PagerDutyStandIn) -> str:
    """Everything the bot sent out, except the credentials headers that must carry them."""
    sent = [json.dumps(c.args, default=str) for c in slack.calls]
    sent += [json.dumps(r) for r in slack.responses]
    sent += [json.dumps(r.json) + json.dumps(r.query) for r in pagerduty.requests]
    sent += [
        json.dumps({k: v for k, v in r.headers.items() if k != "authorization"})
        for r in pagerduty.requests
    ]
    return "\n".join(sent)


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print about a record: message, extras, traceback."""
    formatted = JsonFormatter().format(record)
    return formatted + repr(record.args) + str(record.msg)


async def test_no_secret_in_any_log_record_response_or_outgoing_message_in_process(
    secret_settings: Settings,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(secret_settings, slack) as bot:
        bodies = await drive(bot.http, slack, pagerduty, bot.response_url)

    # the traffic did what it should, so the checks below looked at real failures
    texts = [r["text"] for r in slack.responses]
    assert "misconfigured" in texts[2]
    assert "Slack did not tell the bot who you are" in texts[3]
    assert any("refused our credentials" in r.getMessage() for r in caplog.records)

    assert leaks("\n".join(bodies)) == []
    assert leaks(what_left(slack, pagerduty)) == []
    leaking = [record_text(r) for r in caplog.records if leaks(record_text(r))]
    assert leaking == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"slack_bot_token": "xoxp-" + BOT_TOKEN},  # a user token where a bot token belongs
        {"slack_signing_secret": ""},
        {"pagerduty_api_token": " "},
        {"log_level": SIGNING_SECRET},
        {"pagerduty_api_url": PAGERDUTY_KEY},
        {"port": WEBHOOK_SECRET},
    ],
    ids=["user_token", "empty_signing", "blank_key", "bad_level", "bad_url", "bad_port"],
)
def test_a_config_error_names_the_problem_but_never_the_value(
    overrides: dict[str, str],
) -> None:
    values: dict[str, Any] = {
        "_env_file": None,
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "pagerduty_api_token": PAGERDUTY_KEY,
        "pagerduty_webhook_secrets": WEBHOOK_SECRET,
    }
    with pytest.raises(ConfigError) as error:
        load_settings(**(values | overrides))
    assert error.value.problems
    assert leaks(str(error.value)) == []
    assert leaks(repr(error.value)) == []


def test_settings_never_print_their_secrets(secret_settings: Settings) -> None:
    assert leaks(repr(secret_settings)) == []
    assert leaks(str(secret_settings)) == []
    assert leaks(secret_settings.model_dump_json()) == []


# --- python -m app, LOG_LEVEL=DEBUG, everything on stderr ------------------------------------


def app_env(slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path, fmt: str) -> dict:  # type: ignore[type-arg]
    routes = tmp_path / "routes.yml"
    routes.write_text("default: C0INCIDENTS\n")
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack.url}/api/",  # type: ignore[attr-defined]
        "PAGERDUTY_API_TOKEN": PAGERDUTY_KEY,
        "PAGERDUTY_API_URL": pagerduty.url,  # type: ignore[attr-defined]
        "PAGERDUTY_WEBHOOK_SECRETS": f"old-rotated-secret,{WEBHOOK_SECRET}",
        "DATABASE_URL": f"sqlite:///{tmp_path}/secrets.db",
        "CHANNEL_ROUTES_FILE": str(routes),
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": fmt,
        "WEBHOOK_RETRY_SECONDS": "0.05",
    }


@contextlib.asynccontextmanager
async def python_m_app(
    env: dict[str, str], cwd: Path, **popen: Any
) -> AsyncIterator[asyncio.subprocess.Process]:
    # Output goes to files, not pipes: a DEBUG-logging process fills a pipe nobody reads
    # and then blocks on its next log line. Read them with `output_of(cwd)`.
    with (cwd / "stdout.log").open("wb") as stdout, (cwd / "stderr.log").open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", env=env, cwd=cwd, stdout=stdout, stderr=stderr, **popen
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()


def output_of(cwd: Path) -> tuple[bytes, bytes]:
    return (cwd / "stdout.log").read_bytes(), (cwd / "stderr.log").read_bytes()


async def wait_ready(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if process.returncode is not None:
            raise AssertionError("python -m app exited early")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("python -m app never became ready")


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_python_m_app_at_debug_prints_no_secret_on_stderr_or_in_any_answer(
    slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path, fmt: str
) -> None:
    pagerduty.api_token = PAGERDUTY_KEY
    slack.bot_token = BOT_TOKEN
    env = app_env(slack, pagerduty, tmp_path, fmt)
    response_url = f"{slack.url}/hooks/commands/T0G9PQBBK/1/x"  # type: ignore[attr-defined]

    async with (
        python_m_app(env, tmp_path) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{env['PORT']}", timeout=10) as http,
    ):
        await wait_ready(http, process)
        bodies = await drive(http, slack, pagerduty, response_url)
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=40)
        _, stderr_bytes = output_of(tmp_path)

    stderr = stderr_bytes.decode(errors="replace")
    assert "refused our credentials" in stderr  # DEBUG logging ran through the failures
    assert "slack users.info: invalid_auth" in stderr
    assert leaks(stderr) == []
    assert leaks("\n".join(bodies)) == []
    assert leaks(what_left(slack, pagerduty)) == []


async def test_python_m_app_refusing_a_bad_config_prints_no_secret(
    slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path
) -> None:
    env = app_env(slack, pagerduty, tmp_path, "json")
    env["SLACK_BOT_TOKEN"] = "xoxp-" + BOT_TOKEN  # user token: refused at start
    env["PORT"] = WEBHOOK_SECRET

    async with python_m_app(env, tmp_path) as process:
        await asyncio.wait_for(process.wait(), timeout=20)
        stdout, stderr = output_of(tmp_path)

    assert process.returncode == 2
    output = (stdout + stderr).decode(errors="replace")
    assert "SLACK_BOT_TOKEN" in output
    assert leaks(output) == []
