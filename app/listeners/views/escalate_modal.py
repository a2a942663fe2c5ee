"""Submission of the "Escalate incident" shortcut's modal."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from app.blocks.modals import escalation_from
from app.ids import BlockId
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.incidents.words import INCIDENT_ID
from app.listeners.reporting import Audience, Reporter
from app.listeners.views.form import refuse, too_long


async def handle_escalate_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, reporter: Reporter
) -> None:
    level_text, note = escalation_from(view.get("state") or {})
    try:
        origin = json.loads(view.get("private_metadata") or "")
        incident_id, channel, thread = origin["incident_id"], origin["channel"], origin["thread"]
    except (ValueError, KeyError, TypeError):
        await refuse(ack, BlockId.LEVEL, "Still looking up the incident; try again in a moment.")
        return
    if not (isinstance(incident_id, str) and INCIDENT_ID.fullmatch(incident_id)):
        # Only ours can be in private_metadata, unless a request was forged: never a path.
        await refuse(ack, BlockId.LEVEL, "This form is not one I can act on; close it.")
        return
    if level_text and not (level_text.isdigit() and int(level_text) >= 1):
        await refuse(ack, BlockId.LEVEL, "A whole number from 1, or empty for the next level.")
        return
    if problem := too_long(note):
        await refuse(ack, BlockId.NOTE, problem)
        return
    await ack()
    person = Person.of(body)
    audience = Audience(channel, person.slack_user_id, thread_ts=thread)
    await reporter.answer(
        audience,
        lambda: intake.escalate_in_thread(
            person=person,
            channel=channel,
            incident_id=incident_id,
            level=int(level_text) if level_text else None,
            note=note,
        ),
        public_ts=thread,
    )
