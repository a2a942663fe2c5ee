"""`@incident-bot escalate db is down` in a card's thread acts on that card's incident;
the answer goes in the thread. (Bolt acks Events API requests itself, at once.)"""

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from app.incidents.intake import Intake
from app.incidents.person import Person
from app.listeners.reporting import Audience, Reporter


async def handle_app_mention(
    body: dict[str, Any],
    event: dict[str, Any],
    context: AsyncBoltContext,
    intake: Intake,
    reporter: Reporter,
) -> None:
    # Bots (ourselves included) and edits never act: an edit would re-run the command.
    if event.get("bot_id") or event.get("subtype") or event.get("edited"):
        return
    await reporter.answer(
        Audience.of(body),
        lambda: intake.mention(
            event["text"],
            bot_user_id=context.bot_user_id or "",
            person=Person.of(body),
            channel=event["channel"],
            thread_ts=event.get("thread_ts"),
        ),
        public_ts=event.get("thread_ts") or event["ts"],
    )
