"""The "Page on-call about this" message shortcut: a modal pre-filled with the message as
the title, a service picker and an urgency; submitting it opens the incident."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks.around import page_oncall_modal
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.incidents.words import message_as_typed
from app.listeners.reporting import Audience, Reporter


async def handle_page_oncall_shortcut(
    ack: AsyncAck,
    shortcut: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    intake: Intake,
    reporter: Reporter,
) -> None:
    """Open the modal first (the trigger_id lasts 3 s), then offer the services, or say
    in it why this person may not page from here."""
    await ack()
    message = shortcut.get("message") or {}
    channel = shortcut["channel"]["id"]
    title = " ".join(message_as_typed(message).split())  # one line, as a title is
    metadata = json.dumps({"channel": channel, "ts": str(message.get("ts") or "")})
    async with reporter.reporting(Audience.of(shortcut, respond)):
        opened = await client.views_open(
            trigger_id=shortcut["trigger_id"],
            view=page_oncall_modal(metadata, title=title, services=None),
        )
        view_id = opened["view"]["id"]
        async with reporter.refusals_in_modal(view_id, "Can't page on-call"):
            services = await intake.services_to_page(person=Person.of(shortcut), channel=channel)
            view = page_oncall_modal(metadata, title=title, services=services)
            await client.views_update(view_id=view_id, view=view)
