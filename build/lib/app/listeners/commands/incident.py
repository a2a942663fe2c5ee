from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.incidents import IncidentActions
from app.listeners.errors import reporting_errors


async def handle_incident_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    incidents: IncidentActions,
) -> None:
    """`/incident ...`: answer Slack at once, then act, then say what happened."""
    await ack()
    async with reporting_errors(command, respond, client):
        reply = await incidents.run_command(
            command.get("text", ""), command["user_id"], command["channel_id"], client
        )
        if reply.public:
            await respond(text="\n".join(reply.public), response_type="in_channel")
        if reply.private:
            await respond(text="\n".join(reply.private), response_type="ephemeral")
