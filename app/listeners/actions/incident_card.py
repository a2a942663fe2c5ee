"""Buttons on an incident card. Acknowledge and Escalate act at once (Escalate after
Slack's confirm dialog); Resolve and Reassign open a modal first, before any slow call,
because a `trigger_id` expires 3 s after the click. Each button's value is the card's
`CardState`: the incident's id, number and title travel with the click."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks.card import CardState
from app.blocks.modals import reassign_modal, resolve_modal
from app.errors import UsageError
from app.incidents.grammar import Verb
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.incidents.words import MAX_TEXT_CHARS
from app.listeners.reporting import Audience, Reporter
from app.store import CardRef

ButtonHandler = Callable[..., Awaitable[None]]


def card_state(value: str) -> CardState:
    try:
        return CardState.from_value(value)
    except ValueError:
        raise UsageError(
            "This card is too old to act on. Post a fresh one with `/incident show <number>`."
        ) from None


def clicked_card(body: dict[str, Any]) -> CardRef:
    return CardRef(body["container"]["channel_id"], body["container"]["message_ts"])


def on_ephemeral(body: dict[str, Any]) -> bool:
    """A button on an ephemeral message: the payload has no `message`, and chat.update
    cannot reach the message."""
    return bool(body["container"].get("is_ephemeral")) or "message" not in body


def modal_metadata(state: CardState, card: CardRef, *, ephemeral: bool = False) -> str:
    """What a modal must carry back to act on the card it came from (an ephemeral card
    has no `ts` that chat.update could use)."""
    ts = "" if ephemeral else card.ts
    return json.dumps({"state": state.to_value(), "channel": card.channel, "ts": ts})


def acting_button(verb: Verb) -> ButtonHandler:
    """A button that acts at once: the click carries the state its card showed."""

    async def handle(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        intake: Intake,
        reporter: Reporter,
    ) -> None:
        await ack()
        await reporter.answer(
            Audience.of(body, respond),
            lambda: intake.click(
                verb,
                person=Person.of(body),
                seen=card_state(action.get("value", "")),
                card=clicked_card(body),
                redraw_clicked=not on_ephemeral(body),
            ),
        )

    handle.__name__ = f"handle_{verb}_button"
    return handle


def modal_button(verb: Verb, build: Callable[[int, str, str], dict[str, Any]]) -> ButtonHandler:
    """A button that opens a modal at once, from what the button carries (no PagerDuty
    call may come first: the trigger_id would expire)."""

    async def handle(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        respond: AsyncRespond,
        client: AsyncWebClient,
        intake: Intake,
        reporter: Reporter,
    ) -> None:
        await ack()
        async with reporter.reporting(Audience.of(body, respond)):
            state, card = card_state(action.get("value", "")), clicked_card(body)
            await intake.open_form(verb, person=Person.of(body), seen=state, card=card)
            metadata = modal_metadata(state, card, ephemeral=on_ephemeral(body))
            await client.views_open(
                trigger_id=body["trigger_id"],
                view=build(state.number or 0, state.title or "this incident", metadata),
            )

    return handle


handle_acknowledge_button = acting_button(Verb.ACK)
handle_escalate_button = acting_button(Verb.ESCALATE)
handle_resolve_button = modal_button(
    Verb.RESOLVE,
    lambda number, title, metadata: resolve_modal(number, title, metadata, MAX_TEXT_CHARS),
)
handle_reassign_button = modal_button(Verb.REASSIGN, reassign_modal)
