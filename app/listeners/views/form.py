"""Input errors in a modal: Slack shows them under the field (`response_action: errors`),
and the modal stays open with what the person typed."""

from slack_bolt.context.ack.async_ack import AsyncAck

from app.incidents.words import MAX_TEXT_CHARS


async def refuse(ack: AsyncAck, block_id: str, message: str) -> None:
    await ack(response_action="errors", errors={block_id: message})


def too_long(text: str) -> str | None:
    if len(text) > MAX_TEXT_CHARS:
        return f"{len(text)} characters; the limit is {MAX_TEXT_CHARS}."
    return None
