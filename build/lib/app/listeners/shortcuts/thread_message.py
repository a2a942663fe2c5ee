"""Message shortcuts on any message in an incident card's thread."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks import escalate_modal, notice_modal
from app.incidents import MAX_TEXT_CHARS, IncidentActions
from app.listeners.errors import reporting_errors


def _thread_of(shortcut: dict[str, Any]) -> tuple[str, str]:
    message = shortcut.get("message") or {}
    parent = message.get("thread_ts") or message.get("ts") or shortcut.get("message_ts", "")
    return shortcut["channel"]["id"], str(parent)


async def handle_escalate_shortcut(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    """Open the modal first (the trigger_id lasts 3 s), then fill in the incident and its
    next level, with the message as the note."""
    await ack()
    channel, parent = _thread_of(shortcut)
    note = str((shortcut.get("message") or {}).get("text") or "")
    async with reporting_errors(shortcut, respond, client):
        opened = await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=escalate_modal("", about=None, level=None, note=note, max_chars=MAX_TEXT_CHARS),
        )
        view_id = opened["view"]["id"]
        incident_id = await incidents.incident_in_thread(channel, parent, client)
        if incident_id is None:
            await client.views_update(
                view_id=view_id,
                view=notice_modal(
                    "Not an incident thread",
                    "That message is not in an incident card's thread. Use "
                    "`/incident escalate <number>` or mention me with the number.",
                ),
            )
            return
        about, level = await incidents.escalation_preview(incident_id)
        metadata = json.dumps({"incident_id": incident_id, "channel": channel, "thread": parent})
        await client.views_update(
            view_id=view_id,
            view=escalate_modal(
                metadata, about=about, level=level, note=note, max_chars=MAX_TEXT_CHARS
            ),
        )


async def handle_add_to_notes_shortcut(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    await ack()
    channel, _ = _thread_of(shortcut)
    async with reporting_errors(shortcut, respond, client):
        confirmation = await incidents.add_message_to_notes(
            slack_user_id=shortcut["user"]["id"],
            channel=channel,
            message=shortcut.get("message") or {},
            slack=client,
        )
        await respond(text=confirmation, response_type="ephemeral", replace_original=False)
