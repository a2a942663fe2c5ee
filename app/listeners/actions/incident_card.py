"""Buttons on an incident card. Acknowledge and Escalate act at once (Escalate after
Slack's confirm dialog); Resolve and Reassign open a modal first, before any slow call,
because a `trigger_id` expires 3 s after the click."""

import html
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks import reassign_modal, resolve_modal
from app.incidents import MAX_TEXT_CHARS, IncidentActions, Verb, parse_card_state
from app.listeners.errors import reporting_errors
from app.store import CardRef

ButtonHandler = Callable[..., Awaitable[None]]
# The card's fallback text, as app.blocks.incident_card writes it.
_FALLBACK = re.compile(r"Incident #(\d+): (.*) \(\w+\)", re.DOTALL)


def _card(body: dict[str, Any]) -> CardRef:
    return CardRef(body["container"]["channel_id"], body["container"]["message_ts"])


def modal_metadata(value: str, card: CardRef) -> str:
    """What a modal must carry back to act on the card it came from."""
    return json.dumps({"state": value, "channel": card.channel, "ts": card.ts})


def acting_button(verb: Verb) -> ButtonHandler:
    """A button that acts at once: the click carries the state its card showed."""

    async def handle(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        incidents: IncidentActions,
    ) -> None:
        await ack()
        async with reporting_errors(body, respond, client):
            private = await incidents.click(
                verb,
                slack_user_id=body["user"]["id"],
                state=parse_card_state(action.get("value", "")),
                card=_card(body),
                slack=client,
            )
            if private:
                await respond(
                    text="\n".join(private), response_type="ephemeral", replace_original=False
                )

    handle.__name__ = f"handle_{verb}_button"
    return handle


def modal_button(build: Callable[[int, str, str], dict[str, Any]]) -> ButtonHandler:
    """A button that opens a modal at once, from what the card itself says (no PagerDuty
    call may come first: the trigger_id would expire)."""

    async def handle(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        async with reporting_errors(body, respond, client):
            value = action.get("value", "")
            parse_card_state(value)
            number, title = _number_and_title(body)
            await client.views_open(
                trigger_id=body["trigger_id"],
                view=build(number, title, modal_metadata(value, _card(body))),
            )

    return handle


def _number_and_title(body: dict[str, Any]) -> tuple[int, str]:
    match = _FALLBACK.fullmatch(str((body.get("message") or {}).get("text", "")))
    if match is None:
        return 0, "this incident"
    return int(match.group(1)), html.unescape(match.group(2))


handle_acknowledge_button = acting_button(Verb.ACK)
handle_escalate_button = acting_button(Verb.ESCALATE)
handle_resolve_button = modal_button(
    lambda number, title, metadata: resolve_modal(number, title, metadata, MAX_TEXT_CHARS)
)
handle_reassign_button = modal_button(reassign_modal)
