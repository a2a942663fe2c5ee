"""Submission of the "Page on-call about this" modal."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from app.blocks.around import page_oncall_from
from app.ids import BlockId
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.listeners.reporting import Audience, Reporter
from app.listeners.views.form import refuse


async def handle_page_oncall_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, reporter: Reporter
) -> None:
    title, picked, typed, urgency = page_oncall_from(view.get("state") or {})
    try:
        origin = json.loads(view.get("private_metadata") or "")
        channel, message_ts = str(origin["channel"]), str(origin["ts"])
    except (ValueError, KeyError, TypeError):
        await refuse(
            ack, BlockId.TITLE, "This form is too old; close it and use the shortcut again."
        )
        return
    if not title:
        await refuse(ack, BlockId.TITLE, "Say what is wrong: the incident needs a title.")
        return
    if not (typed or picked):
        await refuse(ack, BlockId.SERVICE_NAME, "Choose a service, or type its name.")
        return
    await ack()
    person = Person.of(body)
    audience = Audience(channel, person.slack_user_id)
    await reporter.answer(
        audience,
        lambda: intake.page_oncall_about(
            person=person,
            channel=channel,
            message_ts=message_ts,
            service=typed or picked,
            title=title,
            urgency=urgency if urgency in ("high", "low") else "",
        ),
        # The announcement goes in the message's thread: the message and incident link up.
        public_ts=message_ts or None,
    )
