"""manifest.yml is what Slack is told; app/ids.py is what the code listens for; the doctor's
REQUIRED_SCOPES is what it checks. These tests keep the three in agreement.

Bolt has no public way to list its listeners (they live in a private list, matched by
closures), so the proof that the code registers a command, shortcut or event is behavioural:
send the real app a correctly signed request for it and see that a listener took it. Bolt
answers 404 "unhandled request" only when no listener matched.
"""

import asyncio
import copy
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from app.demo.signing import JSON, events_body, signed_headers
from app.doctor import REQUIRED_SCOPES
from app.ids import Command, EventType, Shortcut
from tests.conftest import SIGNING_SECRET, Bot
from tests.standins.contracts import CONTRACTS_DIR, load_slack_sample

MANIFEST_PATH = Path(__file__).resolve().parents[1] / "manifest.yml"
REQUEST_URL_PATH = "/slack/events"  # DESIGN section 1: one Request URL for everything

# One sample request per Events API subscription; a new EventType needs one here.
EVENT_SAMPLES = {EventType.APP_MENTION: "requests/event.app_mention.escalate_in_thread.json"}


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    return manifest


def manifest_schema() -> dict[str, Any]:
    path = (
        CONTRACTS_DIR / "slack" / "manifest" / "manifest.schema.1.0.0.json"
        if CONTRACTS_DIR
        else None
    )
    if path is None or not path.is_file():
        pytest.skip(
            "Slack's app-manifest JSON Schema (slack/manifest/manifest.schema.1.0.0.json) is "
            "not in the shared contracts (../shared/contracts or CONTRACTS_DIR), so "
            "manifest.yml cannot be validated here"
        )
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    schema = manifest_schema()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(manifest)
    ]


# --- the manifest is one Slack accepts ---------------------------------------------------


def test_manifest_is_valid_against_slacks_v1_manifest_schema() -> None:
    manifest = load_manifest()

    assert manifest["_metadata"]["major_version"] == 1
    assert schema_errors(manifest) == []


def test_the_schema_check_would_catch_a_broken_manifest() -> None:
    manifest = copy.deepcopy(load_manifest())
    manifest["features"]["shortcuts"][0]["name"] = "A shortcut name longer than Slack allows"
    manifest["settings"]["interactivity"].pop("is_enabled")

    errors = schema_errors(manifest)

    assert any(e.startswith("features/shortcuts/0/name") for e in errors), errors
    assert any(e.startswith("settings/interactivity") for e in errors), errors


def test_every_slack_request_goes_to_the_one_request_url_over_http() -> None:
    manifest = load_manifest()
    settings = manifest["settings"]
    urls = [
        *(command["url"] for command in manifest["features"]["slash_commands"]),
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ]

    assert all(url.startswith("https://") and url.endswith(REQUEST_URL_PATH) for url in urls)
    assert len(set(urls)) == 1
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert manifest["display_information"]["name"] == "incident-bot"
    assert manifest["features"]["bot_user"]["display_name"] == "incident-bot"


def test_slash_commands_are_escaped_so_mentions_arrive_as_user_ids() -> None:
    for command in load_manifest()["features"]["slash_commands"]:
        assert command["should_escape"] is True, command["command"]
        assert command["description"]
        assert command["usage_hint"]


# --- the manifest declares exactly what app/ids.py names -----------------------------------


def test_manifest_declares_exactly_the_commands_in_app_ids() -> None:
    declared = [c["command"] for c in load_manifest()["features"]["slash_commands"]]

    assert sorted(declared) == sorted(Command)


def test_manifest_declares_exactly_the_message_shortcuts_in_app_ids() -> None:
    shortcuts = load_manifest()["features"]["shortcuts"]

    assert sorted(s["callback_id"] for s in shortcuts) == sorted(Shortcut)
    assert all(s["type"] == "message" for s in shortcuts)
    names = {s["callback_id"]: s["name"] for s in shortcuts}
    assert names == {
        Shortcut.ESCALATE: "Escalate incident",
        Shortcut.ADD_NOTE: "Add to incident notes",
        Shortcut.PAGE_ONCALL: "Page on-call about this",
    }


def test_manifest_subscribes_to_exactly_the_bot_events_in_app_ids() -> None:
    subscriptions = load_manifest()["settings"]["event_subscriptions"]

    assert sorted(subscriptions["bot_events"]) == sorted(EventType)
    assert "user_events" not in subscriptions


# --- the code registers a listener for each of them -----------------------------------------


async def settled(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Send a request, then wait for the work Bolt started after ack() to finish, so a
    listener never outlives the stand-ins it talks to."""
    before = asyncio.all_tasks()
    response = await send()
    async with asyncio.timeout(10):  # a hang fails here, not in teardown
        while started := asyncio.all_tasks() - before - {asyncio.current_task()}:
            await asyncio.wait(started)
    return response


def assert_handled(response: httpx.Response, what: str) -> None:
    assert response.status_code != 404, (
        f"no listener is registered for {what}: Bolt answered 404 ({response.text})"
    )


@pytest.mark.parametrize("command", list(Command))
async def test_the_app_registers_a_listener_for_every_command(bot: Bot, command: Command) -> None:
    assert command == "/incident", "slash_command_body needs the new command's name"

    response = await settled(lambda: bot.command("help"))

    assert_handled(response, f"the slash command {command}")
    assert response.status_code == 200


@pytest.mark.parametrize("shortcut", list(Shortcut))
async def test_the_app_registers_a_listener_for_every_message_shortcut(
    bot: Bot, shortcut: Shortcut
) -> None:
    payload = load_slack_sample("requests/message_action.escalate_on_thread_reply.payload.json")
    payload["callback_id"] = str(shortcut)
    payload["response_url"] = f"{bot.slack.url}/hooks/app/T0G9PQBBK/1/shortcut"  # type: ignore[attr-defined]

    response = await settled(lambda: bot.interact(payload))

    assert_handled(response, f"the message shortcut {shortcut}")


def test_every_event_subscription_has_a_sample_request_to_prove_it_is_handled() -> None:
    assert set(EVENT_SAMPLES) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType))
async def test_the_app_registers_a_listener_for_every_event_subscription(
    bot: Bot, event_type: EventType
) -> None:
    envelope = load_slack_sample(EVENT_SAMPLES[event_type])
    assert envelope["event"]["type"] == event_type
    body = events_body(envelope)
    headers = signed_headers(SIGNING_SECRET, body, JSON)

    response = await settled(lambda: bot.http.post("/slack/events", content=body, headers=headers))

    assert_handled(response, f"the {event_type} event")


# --- scopes: one source of truth ------------------------------------------------------------


def test_manifest_requests_exactly_the_scopes_the_doctor_requires() -> None:
    scopes = load_manifest()["oauth_config"]["scopes"]
    bot_scopes = scopes["bot"]

    assert len(bot_scopes) == len(set(bot_scopes)), "a scope is listed twice"
    assert set(bot_scopes) == REQUIRED_SCOPES
    assert set(scopes) == {"bot"}, "the bot acts through its bot token alone"


def test_every_scope_in_the_manifest_says_why_it_is_needed() -> None:
    lines = MANIFEST_PATH.read_text(encoding="utf-8").splitlines()
    scope_line = re.compile(r"^\s+- ([a-z_.]+:?[a-z_.:]*)\s*$")
    unexplained = [
        match[1]
        for index, line in enumerate(lines)
        if (match := scope_line.match(line))
        and match[1] in REQUIRED_SCOPES
        and not lines[index - 1].strip().startswith("#")
    ]

    assert unexplained == []
