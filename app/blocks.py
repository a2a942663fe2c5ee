"""Block Kit for incident cards and modals: pure builders, no Slack client, so every card
can be checked against Slack's limits without a server."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any, cast, get_args

from app.ids import CARD_METADATA_EVENT, ActionId, BlockId, CallbackId, InputActionId
from app.incidents.grammar import INCIDENT_ID
from app.mrkdwn import escape, link
from app.pagerduty.models import Incident, IncidentStatus, StatusUpdate

# Slack rejects the whole message when one of these is exceeded.
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
BUTTON_VALUE_MAX = 2000

_STATUSES: tuple[str, ...] = get_args(IncidentStatus)
_EMOJI = {"triggered": ":red_circle:", "acknowledged": ":large_yellow_circle:"}
# A title in a button value is only for the modal's heading; even fully \u-escaped it keeps
# the value far under BUTTON_VALUE_MAX.
_TITLE_IN_VALUE = 100


@dataclass(frozen=True)
class CardState:
    """What a card showed when it was rendered; rides in every button's `value`, so a click
    carries the state the clicker saw (exactly-once checks compare it with PagerDuty's) and
    what a modal names (number, title) without reading the card's text back. Cards drawn
    before number and title rode along have neither."""

    incident_id: str
    status: IncidentStatus
    level: int | None
    number: int | None = None
    title: str | None = None

    def to_value(self) -> str:
        data = {"incident_id": self.incident_id, "status": self.status, "level": self.level}
        if self.number is not None:
            data["number"] = self.number
        if self.title is not None:
            data["title"] = _clip(self.title, _TITLE_IN_VALUE)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str) -> "CardState":
        """Anyone can post a block_actions payload with any value: check every key."""
        if len(value) > BUTTON_VALUE_MAX:
            raise ValueError("button value too long")
        try:
            data = json.loads(value)
        except RecursionError as e:
            raise ValueError("button value nested too deep") from e
        if not isinstance(data, dict) or not {"incident_id", "status", "level"} <= data.keys():
            raise ValueError("button value is not a card state")
        incident_id, status, level = data.get("incident_id"), data.get("status"), data.get("level")
        # The id ends up in a PagerDuty URL path: an incident id, never a path of its own.
        if not isinstance(incident_id, str) or not INCIDENT_ID.fullmatch(incident_id):
            raise ValueError(f"bad incident_id: {incident_id!r}")
        if status not in _STATUSES:
            raise ValueError(f"bad status: {status!r}")
        if level is not None and (type(level) is not int or level < 1):
            raise ValueError(f"bad level: {level!r}")
        number, title = data.get("number"), data.get("title")
        if number is not None and (type(number) is not int or number < 1):
            raise ValueError(f"bad number: {number!r}")
        if title is not None and (not isinstance(title, str) or len(title) > 2 * _TITLE_IN_VALUE):
            raise ValueError("bad title")
        return cls(incident_id, cast(IncidentStatus, status), level, number, title)


@dataclass(frozen=True)
class LastAction:
    slack_user_id: str
    did: str  # mrkdwn-safe verb phrase, inserted verbatim: "acknowledged", "escalated to level 2"
    at: datetime  # aware UTC


def incident_card(
    incident: Incident,
    *,
    level: int | None,
    levels: int | None,
    last_action: LastAction | None,
    latest_update: StatusUpdate | None = None,
) -> dict[str, Any]:
    """The kwargs for chat.postMessage / chat.update, rendered from PagerDuty's answer."""
    number, title = incident.incident_number, incident.title
    head = f"{_EMOJI.get(incident.status, ':white_check_mark:')} *"
    budget = SECTION_TEXT_MAX - len(f"{head}<{incident.html_url}|#{number} >*")
    summary = f"{head}{link(incident.html_url, f'#{number} {_clip(title, budget)}')}*"
    policy = incident.escalation_policy.summary
    where = "level unknown" if level is None else f"level {level}"
    where += f" of {levels}" if level is not None and levels is not None else ""
    priority = incident.priority.summary if incident.priority else "none"
    assigned = ", ".join(a.assignee.summary for a in incident.assignments) or "nobody"
    fields = [
        ("Status", incident.status.capitalize()),
        ("Urgency", escape(_clip(incident.urgency, 200))),
        ("Priority", escape(_clip(priority, 200))),
        ("Service", escape(_clip(incident.service.summary, 1000))),
        ("Assigned", escape(_clip(assigned, FIELD_TEXT_MAX - 20))),
        ("Escalation", f"{where} · {escape(_clip(policy, 1000))}"),
        ("Triggered", _date(incident.created_at, "{date_short_pretty} at {time}")),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "incident_summary",
            "text": {"type": "mrkdwn", "text": summary},
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields],
        }
    ]
    if last_action:
        who = f"<@{escape(last_action.slack_user_id)}>"
        line = f"{who} {last_action.did} {_date(last_action.at, '{ago}')}"
        blocks.append(
            {
                "type": "context",
                "block_id": "incident_last_action",
                "elements": [{"type": "mrkdwn", "text": line}],
            }
        )
    if waiting := incident.pending_responders:
        # Named, not mentioned: the page itself reached them; the card must not ping again.
        names = ", ".join(escape(_clip(r.user.summary, 100)) for r in waiting[:20])
        line = f":hourglass_flowing_sand: Asked to respond, no answer yet: {names}"
        blocks.append(_context_line("incident_responders", line))
    if latest_update is not None:
        when = _date(latest_update.created_at, "{ago}") if latest_update.created_at else ""
        said = escape(_clip(latest_update.message, FIELD_TEXT_MAX))
        blocks.append(
            _context_line("incident_status_update", f":mega: Latest update {when}: {said}")
        )
    if incident.status != "resolved":
        value = CardState(incident.id, incident.status, level, number, title).to_value()
        buttons = [
            _button("Resolve", ActionId.RESOLVE, value),
            _button("Escalate", ActionId.ESCALATE, value)
            | {"confirm": _escalate_confirm(number, level, levels, policy)},
            _button("Reassign", ActionId.REASSIGN, value),
        ]
        if incident.status == "triggered":
            ack = _button("Acknowledge", ActionId.ACKNOWLEDGE, value) | {"style": "primary"}
            buttons.insert(0, ack)
        blocks.append({"type": "actions", "block_id": "incident_actions", "elements": buttons})
    return {
        "text": f"Incident #{number}: {escape(_clip(title, 3000))} ({incident.status})",
        "blocks": blocks,
        "metadata": _metadata({"incident_id": incident.id, "incident_number": number}),
    }


def gone_card(incident_id: str, title: str | None = None) -> dict[str, Any]:
    """PagerDuty answered 404 (merged or deleted): the card stays, its buttons go."""
    what = f"*{escape(_clip(title, 2000))}*" if title else f"Incident {escape(incident_id)}"
    text = f":wastebasket: {what} is no longer in PagerDuty: it was merged or deleted."
    return {
        "text": f"Incident {escape(incident_id)} is no longer in PagerDuty",
        "blocks": [
            {
                "type": "section",
                "block_id": "incident_gone",
                "text": {"type": "mrkdwn", "text": text},
            }
        ],
        "metadata": _metadata({"incident_id": incident_id}),
    }


def resolve_modal(
    incident_number: int, title: str, private_metadata: str, max_chars: int
) -> dict[str, Any]:
    note = {
        "type": "input",
        "block_id": BlockId.RESOLUTION.value,
        "optional": True,
        "label": _plain("Resolution note"),
        "element": {
            "type": "plain_text_input",
            "action_id": InputActionId.RESOLUTION.value,
            "multiline": True,
            "max_length": max_chars,
        },
    }
    return _modal(CallbackId.RESOLVE_MODAL, "Resolve incident", "Resolve", private_metadata) | {
        "blocks": [_naming(incident_number, title), note]
    }


def reassign_modal(incident_number: int, title: str, private_metadata: str) -> dict[str, Any]:
    assignee = {
        "type": "input",
        "block_id": BlockId.ASSIGNEE.value,
        "label": _plain("Reassign to"),
        "element": {"type": "users_select", "action_id": InputActionId.ASSIGNEE.value},
    }
    return _modal(CallbackId.REASSIGN_MODAL, "Reassign incident", "Reassign", private_metadata) | {
        "blocks": [_naming(incident_number, title), assignee]
    }


def escalate_modal(
    private_metadata: str,
    *,
    about: str | None,
    level: int | None,
    note: str,
    max_chars: int,
) -> dict[str, Any]:
    """The "Escalate incident" shortcut's modal. It opens at once with `about=None` (a
    trigger_id lasts 3 s), then is updated with the incident and its next level."""
    summary = about if about is not None else "Looking up this thread's incident…"
    level_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": InputActionId.LEVEL.value,
        "placeholder": _plain("next level"),
    }
    if level is not None:
        level_input["initial_value"] = str(level)
    note_input: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": InputActionId.NOTE.value,
        "multiline": True,
        "max_length": max_chars,
    }
    if note:
        note_input["initial_value"] = _clip(note, max_chars)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(summary, SECTION_TEXT_MAX)}},
        {
            "type": "input",
            "block_id": BlockId.LEVEL.value,
            "optional": True,
            "label": _plain("Escalate to level"),
            "element": level_input,
        },
        {
            "type": "input",
            "block_id": BlockId.NOTE.value,
            "optional": True,
            "label": _plain("Note"),
            "element": note_input,
        },
    ]
    return _modal(CallbackId.ESCALATE_MODAL, "Escalate incident", "Escalate", private_metadata) | {
        "blocks": blocks
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only explains (mrkdwn-safe `text`), with nothing to submit."""
    return {
        "type": "modal",
        "title": _plain(title[:24]),
        "close": _plain("Close"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_TEXT_MAX)}}
        ],
    }


def escalation_from(view_state: dict[str, Any]) -> tuple[str, str]:
    """The level (as typed) and note from the escalate modal; "" for each left empty."""
    level = _input(view_state, BlockId.LEVEL, InputActionId.LEVEL).get("value")
    note = _input(view_state, BlockId.NOTE, InputActionId.NOTE).get("value")
    return (
        level.strip() if isinstance(level, str) else "",
        note.strip() if isinstance(note, str) else "",
    )


def resolution_from(view_state: dict[str, Any]) -> str:
    """The note typed into the resolve modal, stripped; "" when left empty."""
    value = _input(view_state, BlockId.RESOLUTION, InputActionId.RESOLUTION).get("value")
    return value.strip() if isinstance(value, str) else ""


def assignee_from(view_state: dict[str, Any]) -> str | None:
    """The Slack user picked in the reassign modal, None when missing."""
    user = _input(view_state, BlockId.ASSIGNEE, InputActionId.ASSIGNEE).get("selected_user")
    return user if isinstance(user, str) and user else None


def _input(view_state: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    """Takes `view["state"]` (or its `values`); a submission is untrusted JSON, so any
    missing or mistyped key reads as empty."""
    values = view_state.get("values", view_state) if isinstance(view_state, dict) else {}
    block = values.get(block_id) if isinstance(values, dict) else None
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def _clip(text: str, limit: int) -> str:
    """The longest prefix of `text` whose escaped form, with "…", fits in `limit` chars:
    Slack counts the escaped text, and an entity must not be cut in half."""
    if len(escape(text)) <= limit:
        return text
    escaped_lengths = accumulate(len(escape(char)) for char in text)
    return text[: sum(1 for n in escaped_lengths if n + len("…") <= limit)] + "…"


def _date(at: datetime, tokens: str) -> str:
    """Slack renders `<!date>` in each reader's own time zone; the fallback is UTC ISO."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return f"<!date^{int(at.timestamp())}^{tokens}|{at:%Y-%m-%dT%H:%M:%SZ}>"


def slack_date(at: datetime, tokens: str) -> str:
    """A time every reader sees in their own zone (`<!date>`)."""
    return _date(at, tokens)


def _context_line(block_id: str, text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "block_id": block_id,
        "elements": [{"type": "mrkdwn", "text": text}],
    }


def _escalate_confirm(
    number: int, level: int | None, levels: int | None, policy: str
) -> dict[str, Any]:
    """Name the target level when the card knows it, so nobody escalates past what they meant."""
    if level is not None and levels is not None and level < levels:
        text = f"Escalate #{number} to level {level + 1} ({_clip(policy, 200)})?"
    else:
        text = f"Escalate #{number} to the next level of its escalation policy?"
    return {
        "title": _plain(f"Escalate #{number}?"),
        "text": _plain(text),  # plain_text: Slack never formats it, so nothing to escape
        "confirm": _plain("Escalate"),
        "deny": _plain("Cancel"),
    }


def _button(label: str, action_id: ActionId, value: str) -> dict[str, Any]:
    return {"type": "button", "text": _plain(label), "action_id": action_id.value, "value": value}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": CARD_METADATA_EVENT, "event_payload": payload}


def _naming(number: int, title: str) -> dict[str, Any]:
    text = f"*#{number}* {escape(_clip(title, SECTION_TEXT_MAX - 20))}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _modal(callback_id: CallbackId, title: str, submit: str, metadata: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id.value,
        "title": _plain(title),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": metadata,
    }
