"""The Share in channel button on the private on-call answer."""

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from app.blocks.around import shared_policy_ids
from app.errors import UsageError
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.listeners.reporting import Audience, Reporter


async def handle_share_oncall_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    intake: Intake,
    reporter: Reporter,
) -> None:
    """Reads who is on call again (the answer may be minutes old) and posts it."""
    await ack()
    audience = Audience.of(body, respond)
    async with reporter.reporting(audience):
        policy_ids = shared_policy_ids(str(action.get("value") or ""))
        if not policy_ids:
            raise UsageError("This answer is too old to share; ask `/incident oncall` again.")
        reply = await intake.share_oncall(
            person=Person.of(body),
            channel=body["container"]["channel_id"],
            policy_ids=policy_ids,
        )
        await reporter.deliver(reply, audience, public_ts=None)
