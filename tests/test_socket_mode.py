"""Socket Mode (SLACK_APP_TOKEN set): Slack's requests arrive over a WebSocket the bot opens,
so no public URL is needed. A WebSocket stand-in speaks Slack's envelope protocol."""

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.settings import Settings
from tests.conftest import running_bot
from tests.listeners.test_threads import mention
from tests.standins.contracts import load_slack_sample


class SocketModeStandIn:
    """Sends `hello`, then each queued envelope; records the bot's acks."""

    def __init__(self, envelopes: list[dict[str, Any]]) -> None:
        self.envelopes = envelopes
        self.acks: list[dict[str, Any]] = []
        self.connected = asyncio.Event()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connected.set()
        await socket.send_json({"type": "hello", "num_connections": 1})
        for envelope in self.envelopes:
            await socket.send_json(envelope)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return socket


@asynccontextmanager
async def serving(standin: SocketModeStandIn, slack: SlackStandIn) -> AsyncIterator[None]:
    """The stand-in on a local port, as the URL `apps.connections.open` hands the bot."""
    app = web.Application()
    app.router.add_get("/socket", standin.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    slack.socket_url = f"ws://127.0.0.1:{port}/socket"
    try:
        yield
    finally:
        await runner.cleanup()


def socket_settings(settings: Settings) -> Settings:
    token = settings.slack_bot_token.__class__("xapp-1-A0INCBOT1-test")
    return settings.model_copy(update={"slack_app_token": token})


@pytest.fixture
async def socket_server(slack: SlackStandIn) -> AsyncIterator[SocketModeStandIn]:
    command = load_slack_sample("requests/slash_command.incident_resolve.form.json")
    command["response_url"] = f"{slack.url}/hooks/commands/socket"  # type: ignore[attr-defined]
    standin = SocketModeStandIn(
        [
            {
                "envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": command,
            }
        ]
    )
    async with serving(standin, slack):
        yield standin


async def test_a_slash_command_over_socket_mode_acts_and_is_acked(
    settings: Settings,
    slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    socket_server: SocketModeStandIn,
) -> None:
    socket_settings = settings.model_copy(
        update={"slack_app_token": settings.slack_bot_token.__class__("xapp-1-A0INCBOT1-test")}
    )
    async with running_bot(socket_settings, slack):
        await asyncio.wait_for(socket_server.connected.wait(), timeout=5)
        await slack.wait_for(lambda s: len(s.responses) == 1)

    assert socket_server.acks[0]["envelope_id"] == "57d6a792-4d35-4d0b-b6aa-3361493e1caf"
    [put] = pagerduty.writes
    assert put.json["incident"] == {
        "type": "incident_reference",
        "status": "resolved",
        "resolution": "fixed db",
    }
    assert put.headers["from"] == "alice@example.com"
    assert "resolved" in slack.responses[0]["text"]
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == "Bearer xapp-1-A0INCBOT1-test"


async def test_without_a_signing_secret_the_http_endpoint_is_not_served(
    settings: Settings, slack: SlackStandIn, socket_server: SocketModeStandIn
) -> None:
    socket_only = settings.model_copy(
        update={
            "slack_app_token": settings.slack_bot_token.__class__("xapp-1-A0INCBOT1-test"),
            "slack_signing_secret": settings.slack_bot_token.__class__(""),
        }
    )
    async with running_bot(socket_only, slack) as bot:
        response = await bot.command("ack 123")
        assert response.status_code == 404


async def test_a_retried_socket_mode_event_acts_once_and_both_deliveries_are_acked(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn, card_thread: None
) -> None:
    # Slack redelivers an unacknowledged event in a new envelope, with the same event_id
    # and `retry_attempt`/`retry_reason` (Socket Mode docs; python-slack-sdk fixtures).
    event = mention("ack")
    first = {
        "envelope_id": "1d3c3ba7-d7b7-4e0f-a8ff-0d2f7d5c7a01",
        "type": "events_api",
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
        "payload": event,
    }
    retried = copy.deepcopy(first) | {
        "envelope_id": "1d3c3ba7-d7b7-4e0f-a8ff-0d2f7d5c7a02",
        "retry_attempt": 1,
        "retry_reason": "timeout",
    }
    standin = SocketModeStandIn([first, retried])

    async with serving(standin, slack), running_bot(socket_settings(settings), slack):
        await asyncio.wait_for(standin.connected.wait(), timeout=5)
        await slack.wait_for(lambda s: len(standin.acks) == 2)
        await slack.wait_for(
            lambda s: any(c.args.get("thread_ts") for c in s.calls_to("chat.postMessage"))
        )
        await asyncio.sleep(0.3)  # room for a second action, were there one

    assert {ack["envelope_id"] for ack in standin.acks} == {
        first["envelope_id"],
        retried["envelope_id"],
    }
    [put] = pagerduty.writes
    assert put.json["incident"]["status"] == "acknowledged"
    assert put.headers["from"] == "bob@example.com"
    replies = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]
    assert len(replies) == 1
