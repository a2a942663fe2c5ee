"""The real app, wired to stand-ins that speak PagerDuty's and Slack's wire protocols.

`bot` drives the ASGI app in the test's own loop (httpx.ASGITransport), so work done after
`ack()` keeps running; the stand-ins are real HTTP servers on loopback.
"""

import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import hypothesis
import pytest

from app.demo.pagerduty import PagerDutyStandIn, seed_default
from app.demo.server import serve_on_loopback
from app.demo.signing import (
    interactivity_body,
    new_trigger_id,
    signed_headers,
    slash_command_body,
)
from app.demo.slack import SlackStandIn, seed_default_slack
from app.ids import CARD_METADATA_EVENT
from app.pagerduty.client import PagerDutyClient
from app.settings import Settings, load_settings
from app.store import Store
from app.store.connecting import database_target
from app.web import create_app
from tests.standins.contracts import load_slack_sample
from tests.standins.spec import load_pagerduty_spec

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
SIGNING_SECRET = "test-signing-secret-5f2a9c"
BOT_TOKEN = "xoxb-test-bot-token-7d1e"
PAGERDUTY_TOKEN = "pd-test-token"
WEBHOOK_SECRET = "pd-webhook-secret-91b3"
METRICS_TOKEN = "test-metrics-token-0c4e8a2f6b1d"

# Hypothesis times each example by the wall clock (a 200 ms deadline, a too-slow health
# check on generating them). With the suite's workers sharing two cores that measures the
# neighbours as much as the code: the deadline is wider and generation speed is not judged.
# Work that must stay linear on hostile input has timed tests of its own.
hypothesis.settings.register_profile(
    "shared-cpu",
    deadline=timedelta(seconds=1),
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("shared-cpu")


def free_port() -> int:
    """A loopback port for a `python -m app` child, which takes HOST and PORT, not a socket.

    Between this probe and the child's bind the port is nobody's, so it is picked from 10000
    up to the kernel's ephemeral range: no parallel worker's stand-in (bound to port 0) or
    outgoing connection can be handed it meanwhile. Each worker picks in its own slice of that span,
    so two workers' children never race for one port either.
    """
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    first_ephemeral = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    width = (first_ephemeral - 10_000) // workers
    low = 10_000 + worker * width
    while True:
        port = random.randrange(low, low + width)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or still closing: another
            return port


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A DATABASE_URL on TEST_DATABASE_URL's server, in a schema of its own (dropped after),
    selected with libpq's `options=-csearch_path=…`; skips where no server is configured."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyStandIn]:
    spec = load_pagerduty_spec()
    if spec is None and os.environ.get("CI"):
        pytest.fail("CI must check requests against PagerDuty's spec: ../shared/contracts missing")
    standin = PagerDutyStandIn(api_token=PAGERDUTY_TOKEN, validator=spec)
    seed_default(standin)
    async with serve_on_loopback(standin.app) as url:
        standin.url = url  # type: ignore[attr-defined]
        yield standin
    standin.assert_no_spec_violations()


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    standin = SlackStandIn()
    seed_default_slack(standin)
    async with serve_on_loopback(standin.app) as url:
        standin.url = url  # type: ignore[attr-defined]
        yield standin


@pytest.fixture
def settings(pagerduty: PagerDutyStandIn, slack: SlackStandIn, tmp_path: Path) -> Settings:
    return load_settings(
        _env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=f"{slack.url}/api/",  # type: ignore[attr-defined]
        pagerduty_api_token=PAGERDUTY_TOKEN,
        pagerduty_api_url=pagerduty.url,  # type: ignore[attr-defined]
        log_format="console",
        database_url=f"sqlite:///{tmp_path}/incident-bot.db",
        channel_routes_file=_routes_file(tmp_path),
        pagerduty_webhook_secrets=WEBHOOK_SECRET,
        reconcile_interval_seconds=3600,  # at start only, unless a test asks
        webhook_retry_seconds=0.05,
        metrics_token=METRICS_TOKEN,
    )


def without_background_writes(settings: Settings) -> Settings:
    """The webhook worker polls the store every 50 ms in tests; without it, a store held
    elsewhere meets only the request's own writes, each waiting its busy timeout in turn."""
    return settings.model_copy(update={"webhook_retry_seconds": 60})


@asynccontextmanager
async def store_held_elsewhere(database_url: str) -> AsyncIterator[None]:
    """Another process holds a SQLite store (a backup, say): the store's writes wait out
    the busy timeout, then fail. The lock is waited for on a thread, as another process
    would, so that the bot's loop can finish a write it has in flight first."""
    locker = sqlite3.connect(
        database_target(database_url).path, isolation_level=None, check_same_thread=False
    )
    await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


@asynccontextmanager
async def opened_store(database_url: str) -> AsyncIterator[Store]:
    store = Store(database_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def audit(settings: Settings) -> AsyncIterator[Store]:
    """The store the bot under test writes its audit trail to."""
    async with opened_store(settings.database_url) as store:
        yield store


def _routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yml"
    path.write_text("default: C0INCIDENTS\nservices:\n  PSVC001: C0CHECKOUT\n")
    return path


@dataclass
class Bot:
    http: httpx.AsyncClient
    slack: SlackStandIn

    @property
    def response_url(self) -> str:
        return f"{self.slack.url}/hooks/commands/T0G9PQBBK/5111111111111/AbCdEf"  # type: ignore[attr-defined]

    async def command(self, text: str, *, user: str = "U0ALICE01") -> httpx.Response:
        body = slash_command_body(text, user_id=user, response_url=self.response_url)
        headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        """An interaction as Slack sends it: each with a `trigger_id` of its own."""
        body = interactivity_body({**payload, "trigger_id": new_trigger_id()})
        headers = signed_headers(SIGNING_SECRET, body, "application/x-www-form-urlencoded")
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def click(
        self, card: dict[str, Any], action_id: str, *, user: str = "U0ALICE01"
    ) -> httpx.Response:
        """Click a button on a card the Slack stand-in recorded (chat.postMessage args)."""
        return await self.interact(self.click_payload(card, action_id, user=user))

    def click_payload(
        self, card: dict[str, Any], action_id: str, *, user: str = "U0ALICE01"
    ) -> dict[str, Any]:
        """The block_actions payload of that click, for tests that reshape it."""
        payload = load_slack_sample("requests/block_actions.acknowledge_button.payload.json")
        [button] = [
            element
            for block in card["blocks"]
            if block["type"] == "actions"
            for element in block["elements"]
            if element["action_id"] == action_id
        ]
        payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0G9PQBBK"}
        payload["container"].update(channel_id=card["channel"], message_ts=card["ts"])
        payload["channel"]["id"] = card["channel"]
        payload["message"].update(
            text=card["text"], ts=card["ts"], blocks=card["blocks"], metadata=card["metadata"]
        )
        payload["response_url"] = f"{self.slack.url}/hooks/actions/T0G9PQBBK/1/{user}"  # type: ignore[attr-defined]
        payload["actions"] = [{**button, "action_ts": "1678252216.469172"}]
        return payload

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U0ALICE01"
    ) -> httpx.Response:
        """Submit a modal the Slack stand-in recorded (views.open's `view`), with `values`
        as Slack's `view.state.values`."""
        payload = load_slack_sample("requests/view_submission.payload.json")
        payload["user"] = {"id": user, "username": user.lower(), "team_id": "T0G9PQBBK"}
        payload["team"] = {"id": "T0G9PQBBK", "domain": "acme-sre"}
        payload["view"].update(
            callback_id=view["callback_id"],
            private_metadata=view.get("private_metadata", ""),
            blocks=view["blocks"],
            state={"values": values},
        )
        return await self.interact(payload)

    async def event(
        self, envelope: dict[str, Any], *, retry_num: int | None = None
    ) -> httpx.Response:
        """An Events API delivery; `retry_num` makes it Slack's retry of the same event."""
        body = json.dumps(envelope).encode()
        headers = signed_headers(SIGNING_SECRET, body, "application/json")
        if retry_num is not None:
            headers |= {"x-slack-retry-num": str(retry_num), "x-slack-retry-reason": "http_timeout"}
        return await self.http.post("/slack/events", content=body, headers=headers)

    async def webhook(
        self, body: bytes, *, secret: str = WEBHOOK_SECRET, signature: str | None = None
    ) -> httpx.Response:
        """A PagerDuty v3 webhook delivery, signed `v1=<hmac-sha256 hex>` unless told."""
        if signature is None:
            signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-pagerduty-signature": signature}
        return await self.http.post("/pagerduty/webhooks", content=body, headers=headers)

    async def reply_to(self, text: str, *, user: str = "U0ALICE01", count: int = 1) -> list[dict]:  # type: ignore[type-arg]
        """Send a command and wait for its `count` response_url messages."""
        before = len(self.slack.responses)
        response = await self.command(text, user=user)
        assert response.status_code == 200, response.text
        await self.slack.wait_for(lambda s: len(s.responses) >= before + count)
        return self.slack.responses[before:]


def cards_posted(slack: SlackStandIn) -> list[dict[str, Any]]:
    """Every card posted so far (chat.postMessage args with blocks)."""
    return [c.args for c in slack.calls_to("chat.postMessage") if "blocks" in c.args]


def posted_card(slack: SlackStandIn, index: int = -1) -> dict[str, Any]:
    """A card as posted (chat.postMessage args), with the `ts` Slack gave it."""
    card = dict(cards_posted(slack)[index])
    card["ts"] = _ts_of(slack, card)
    return card


def action_ids(card: dict[str, Any]) -> list[str]:
    """The card's buttons, in order."""
    return [
        element["action_id"]
        for block in card["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def show_card(bot: Bot, slack: SlackStandIn, ref: str = "123") -> dict[str, Any]:
    """`/incident show`, and the card it posted."""
    response = await bot.command(f"show {ref}")
    assert response.status_code == 200
    await slack.wait_for(lambda s: len(s.calls_to("chat.postMessage")) == 1)
    return posted_card(slack)


CARD_TS = "1678252213.679169"  # the thread's parent in the shared Slack samples


@pytest.fixture
def card_thread(slack: SlackStandIn) -> None:
    """A card posted before this process started: only its metadata says which incident."""
    slack.add_message(
        "C0INCIDENTS",
        CARD_TS,
        "Incident #123: checkout API error rate high",
        metadata={
            "event_type": CARD_METADATA_EVENT,
            "event_payload": {"incident_id": "PT4KHLK", "incident_number": 123},
        },
    )


def _ts_of(slack: SlackStandIn, card: dict[str, Any]) -> str:
    for message in slack.messages.get(card["channel"], []):
        if message.get("blocks") == card["blocks"]:
            return str(message["ts"])
    raise AssertionError("the stand-in has no such message")


def fast_pagerduty_client(settings: Settings, **overrides: float) -> PagerDutyClient:
    """The production client with test-sized timeouts and backoff."""
    options: dict[str, float] = {
        "timeout": 1.0,
        "attempts": 3,
        "backoff_seconds": 0.01,
        "max_wait_seconds": 0.2,
        "requests_per_second": 1000.0,  # the budget has its own tests
    }
    options.update(overrides)
    return PagerDutyClient(
        str(settings.pagerduty_api_url),
        settings.pagerduty_api_token,
        timeout=options["timeout"],
        attempts=int(options["attempts"]),
        backoff_seconds=options["backoff_seconds"],
        max_wait_seconds=options["max_wait_seconds"],
        requests_per_second=options["requests_per_second"],
    )


@asynccontextmanager
async def running_bot(
    settings: Settings, slack: SlackStandIn, **client_options: float
) -> AsyncIterator[Bot]:
    """A started app (lifespan run: store open, card sync running) and a client for it."""
    app = create_app(settings, pagerduty=fast_pagerduty_client(settings, **client_options))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot") as http,
    ):
        yield Bot(http, slack)


@pytest.fixture
async def bot(
    settings: Settings, slack: SlackStandIn, request: pytest.FixtureRequest
) -> AsyncIterator[Bot]:
    """The app under test; `@pytest.mark.pagerduty_client(timeout=15)` tunes its client."""
    marker = request.node.get_closest_marker("pagerduty_client")
    async with running_bot(settings, slack, **(marker.kwargs if marker else {})) as bot:
        yield bot
