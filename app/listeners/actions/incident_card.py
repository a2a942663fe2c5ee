"""Buttons on an incident card. Acknowledge and Escalate act at once (Escalate after
Slack's confirm dialog); Resolve and Reassign open a modal first, before any slow call,
because a `trigger_id` expires 3 s after the click."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks import reassign_modal, resolve_modal
from app.incidents import MAX_TEXT_CHARS, IncidentActions, Verb, parse_card_state
from app.listeners.errors import reporting_errors
from app.store import CardRef


def _card(body: dict[str, Any]) -> CardRef:
    return CardRef(body["container"]["channel_id"], body["container"]["message_ts"])


def modal_metadata(value: str, card: CardRef) -> str:
    """What a modal must carry back to act on the card it came from."""
    return json.dumps({"state": value, "channel": card.channel, "ts": card.ts})


async def _click(
    verb: Verb,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
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


async def handle_acknowledge_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    await ack()
    await _click(Verb.ACK, body, action, respond, client, incidents)


async def handle_escalate_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    await ack()
    await _click(Verb.ESCALATE, body, action, respond, client, incidents)


async def handle_resolve_button(
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
            view=resolve_modal(number, title, modal_metadata(value, _card(body)), MAX_TEXT_CHARS),
        )


async def handle_reassign_button(
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
            view=reassign_modal(number, title, modal_metadata(value, _card(body))),
        )


def _number_and_title(body: dict[str, Any]) -> tuple[int, str]:
    """From the card's own metadata and fallback text: no PagerDuty call before the modal."""
    message = body.get("message") or {}
    payload = (message.get("metadata") or {}).get("event_payload") or {}
    number = payload.get("incident_number")
    text = str(message.get("text", ""))
    title = text.split(": ", 1)[1] if ": " in text else text
    return (int(number) if isinstance(number, int) else 0), title
