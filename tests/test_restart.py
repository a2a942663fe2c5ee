"""The real process (`python -m app`), killed with SIGKILL right after it accepted a webhook:
the event is processed by the next process on the same store."""

import asyncio
import hashlib
import hmac
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from tests.conftest import (
    BOT_TOKEN,
    PAGERDUTY_TOKEN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    cards_posted,
    free_port,
)
from tests.test_webhooks import webhook

REPO = Path(__file__).resolve().parents[1]


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the condition is another server's state
            await asyncio.sleep(0.01)


@asynccontextmanager
async def bot_process(env: dict[str, str]) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`python -m app` on a free loopback port, yielded once /readyz answers 200."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        env={**env, "PORT": str(port)},
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the bot never became ready")
        yield process, url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=15)


def bot_process_env(
    slack: SlackStandIn, pagerduty: PagerDutyStandIn, tmp_path: Path
) -> dict[str, str]:
    """`python -m app` configured for the stand-ins, with its own store and routes."""
    routes = tmp_path / "routes.yml"
    routes.write_text("default: C0INCIDENTS\n")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))},
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": f"{slack.url}/api/",  # type: ignore[attr-defined]
        "PAGERDUTY_API_TOKEN": PAGERDUTY_TOKEN,
        "PAGERDUTY_API_URL": pagerduty.url,  # type: ignore[attr-defined]
        "PAGERDUTY_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.db",
        "CHANNEL_ROUTES_FILE": str(routes),
        "HOST": "127.0.0.1",
        "LOG_FORMAT": "console",
        "WEBHOOK_RETRY_SECONDS": "0.2",
        "WEBHOOK_LEASE_SECONDS": "1",
    }


async def test_an_event_accepted_just_before_a_kill_is_processed_after_restart(
    pagerduty: PagerDutyStandIn, slack: SlackStandIn, tmp_path: Path
) -> None:
    env = bot_process_env(slack, pagerduty, tmp_path)
    body = webhook("incident.triggered")
    signature = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-pagerduty-signature": signature}

    async with bot_process(env) as (first, url):
        pagerduty.latency = 30.0  # the first process will hang reading the incident
        async with httpx.AsyncClient(base_url=url) as http:
            response = await http.post("/pagerduty/webhooks", content=body, headers=headers)
        assert response.status_code == 202
        await _until(lambda: bool(pagerduty.requests_to("GET", "/incidents/PT4KHLK")))
        first.kill()  # SIGKILL: no shutdown, no cleanup
        await first.wait()
    assert cards_posted(slack) == []
    pagerduty.latency = 0.0

    async with bot_process(env):
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1, timeout=15)
        await asyncio.sleep(0.3)
    assert len(cards_posted(slack)) == 1
    assert cards_posted(slack)[0]["metadata"]["event_payload"]["incident_id"] == "PT4KHLK"
