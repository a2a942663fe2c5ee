"""The small pieces every Block Kit builder shares: Slack's limits, plain and clipped text,
buttons, context lines, modal frames, and reading a submitted input. Pure."""

from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from app.ids import ActionId, CallbackId
from app.mrkdwn import escape

# Slack rejects the whole message when one of these is exceeded.
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
BUTTON_VALUE_MAX = 2000


def read_input(view_state: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    """Takes `view["state"]` (or its `values`); a submission is untrusted JSON, so any
    missing or mistyped key reads as empty."""
    values = view_state.get("values", view_state) if isinstance(view_state, dict) else {}
    block = values.get(block_id) if isinstance(values, dict) else None
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def clip(text: str, limit: int) -> str:
    """The longest prefix of `text` whose escaped form, with "…", fits in `limit` chars:
    Slack counts the escaped text, and an entity must not be cut in half."""
    if len(escape(text)) <= limit:
        return text
    escaped_lengths = accumulate(len(escape(char)) for char in text)
    return text[: sum(1 for n in escaped_lengths if n + len("…") <= limit)] + "…"


def slack_date(at: datetime, tokens: str) -> str:
    """Slack renders `<!date>` in each reader's own time zone; the fallback is UTC ISO."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return f"<!date^{int(at.timestamp())}^{tokens}|{at:%Y-%m-%dT%H:%M:%SZ}>"


def context(text: str, block_id: str | None = None) -> dict[str, Any]:
    """A line of small mrkdwn under a card's summary."""
    line: dict[str, Any] = {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
    if block_id is not None:
        line["block_id"] = block_id
    return line


def button(label: str, action_id: ActionId, value: str) -> dict[str, Any]:
    return {"type": "button", "text": plain(label), "action_id": action_id.value, "value": value}


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def naming(number: int, title: str) -> dict[str, Any]:
    text = f"*#{number}* {escape(clip(title, SECTION_TEXT_MAX - 20))}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(callback_id: CallbackId, title: str, submit: str, metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id.value,
        "title": plain(title),
        "submit": plain(submit),
        "close": plain("Cancel"),
        "private_metadata": metadata,
    }
