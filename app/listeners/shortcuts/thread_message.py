"""Message shortcuts on any message in an incident card's thread."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks.modals import escalate_modal, notice_modal
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.incidents.words import MAX_TEXT_CHARS, message_as_typed
from app.listeners.reporting import Audience, Reporter

NOT_A_THREAD = (
    "That message is not in an incident card's thread. Use `/incident escalate <number>` or "
    "mention me with the number."
)


CANT = "Can't escalate"


def _thread_of(shortcut: dict[str, Any]) -> tuple[str, str]:
    message = shortcut.get("message") or {}
    parent = message.get("thread_ts") or message.get("ts") or shortcut.get("message_ts", "")
    return shortcut["channel"]["id"], str(parent)


async def handle_escalate_shortcut(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    intake: Intake,
    reporter: Reporter,
) -> None:
    """Open the modal first (the trigger_id lasts 3 s), then fill in the incident and its
    next level, with the message as the note."""
    await ack()
    channel, parent = _thread_of(shortcut)
    note = message_as_typed(shortcut.get("message") or {})  # a modal shows plain text
    async with reporter.reporting(Audience.of(shortcut, respond)):
        opened = await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=escalate_modal("", about=None, level=None, note=note, max_chars=MAX_TEXT_CHARS),
        )
        view_id = opened["view"]["id"]
        async with reporter.refusals_in_modal(view_id, CANT):
            preview = await intake.escalation_preview(
                person=Person.of(shortcut), channel=channel, thread_ts=parent
            )
            if preview is None:
                view = notice_modal("Not an incident thread", NOT_A_THREAD)
            else:
                metadata = json.dumps(
                    {"incident_id": preview.incident_id, "channel": channel, "thread": parent}
                )
                view = escalate_modal(
                    metadata,
                    about=preview.about,
                    level=preview.next_level,
                    note=note,
                    max_chars=MAX_TEXT_CHARS,
                )
            await client.views_update(view_id=view_id, view=view)


async def handle_add_to_notes_shortcut(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    respond: AsyncRespond,
    intake: Intake,
    reporter: Reporter,
) -> None:
    await ack()
    channel, _ = _thread_of(shortcut)
    await reporter.answer(
        Audience.of(shortcut, respond),
        lambda: intake.add_message_to_notes(
            person=Person.of(shortcut), channel=channel, message=shortcut.get("message") or {}
        ),
    )
