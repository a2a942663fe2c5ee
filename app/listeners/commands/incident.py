from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from app.incidents.intake import Intake
from app.incidents.person import Person
from app.listeners.reporting import Audience, Reporter


async def handle_incident_command(
    ack: AsyncAck,
    command: dict[str, Any],
    respond: AsyncRespond,
    intake: Intake,
    reporter: Reporter,
) -> None:
    """`/incident ...`: answer Slack at once, then act, then say what happened."""
    await ack()
    await reporter.answer(
        Audience.of(command, respond),
        lambda: intake.command(
            command.get("text", ""), person=Person.of(command), channel=command["channel_id"]
        ),
    )
