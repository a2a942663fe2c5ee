"""`@incident-bot escalate db is down` in a card's thread acts on that card's incident;
the answer goes in the thread. (Bolt acks Events API requests itself, at once.)"""

import re
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from app.incidents import IncidentActions
from app.listeners.errors import reporting_errors


async def handle_app_mention(
    body: dict[str, Any],
    event: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    # Bots (ourselves included) and edits never act: an edit would re-run the command.
    if event.get("bot_id") or event.get("subtype") or event.get("edited"):
        return
    text = re.sub(rf"<@{re.escape(context.bot_user_id or '')}(\|[^>]*)?>", " ", event["text"])
    thread_ts = event.get("thread_ts")
    async with reporting_errors(body, None, client):
        reply = await incidents.run_mention(
            text,
            slack_user_id=event["user"],
            channel=event["channel"],
            thread_ts=thread_ts,
            slack=client,
        )
        reply_ts = thread_ts or event["ts"]
        if reply.public:
            await client.chat_postMessage(
                channel=event["channel"], thread_ts=reply_ts, text="\n".join(reply.public)
            )
        if reply.private:
            await client.chat_postEphemeral(
                channel=event["channel"],
                user=event["user"],
                thread_ts=thread_ts,
                text="\n".join(reply.private),
            )
