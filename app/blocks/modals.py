"""The modals of a card's Resolve and Reassign buttons and of the escalate shortcut, and
what their submissions say. Pure."""

from typing import Any

from app.blocks.parts import SECTION_TEXT_MAX, clip, modal, naming, plain, read_input
from app.ids import BlockId, CallbackId, InputActionId


def resolve_modal(
    incident_number: int, title: str, private_metadata: str, max_chars: int
) -> dict[str, Any]:
    note = {
        "type": "input",
        "block_id": BlockId.RESOLUTION.value,
        "optional": True,
        "label": plain("Resolution note"),
        "element": {
            "type": "plain_text_input",
            "action_id": InputActionId.RESOLUTION.value,
            "multiline": True,
            "max_length": max_chars,
        },
    }
    return modal(CallbackId.RESOLVE_MODAL, "Resolve incident", "Resolve", private_metadata) | {
        "blocks": [naming(incident_number, title), note]
    }


def reassign_modal(incident_number: int, title: str, private_metadata: str) -> dict[str, Any]:
    assignee = {
        "type": "input",
        "block_id": BlockId.ASSIGNEE.value,
        "label": plain("Reassign to"),
        "element": {"type": "users_select", "action_id": InputActionId.ASSIGNEE.value},
    }
    return modal(CallbackId.REASSIGN_MODAL, "Reassign incident", "Reassign", private_metadata) | {
        "blocks": [naming(incident_number, title), assignee]
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
        "placeholder": plain("next level"),
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
        note_input["initial_value"] = clip(note, max_chars)
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(summary, SECTION_TEXT_MAX)}},
        {
            "type": "input",
            "block_id": BlockId.LEVEL.value,
            "optional": True,
            "label": plain("Escalate to level"),
            "element": level_input,
        },
        {
            "type": "input",
            "block_id": BlockId.NOTE.value,
            "optional": True,
            "label": plain("Note"),
            "element": note_input,
        },
    ]
    return modal(CallbackId.ESCALATE_MODAL, "Escalate incident", "Escalate", private_metadata) | {
        "blocks": blocks
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only explains (mrkdwn-safe `text`), with nothing to submit."""
    return {
        "type": "modal",
        "title": plain(title[:24]),
        "close": plain("Close"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT_MAX)}}
        ],
    }


def escalation_from(view_state: dict[str, Any]) -> tuple[str, str]:
    """The level (as typed) and note from the escalate modal; "" for each left empty."""
    level = read_input(view_state, BlockId.LEVEL, InputActionId.LEVEL).get("value")
    note = read_input(view_state, BlockId.NOTE, InputActionId.NOTE).get("value")
    return (
        level.strip() if isinstance(level, str) else "",
        note.strip() if isinstance(note, str) else "",
    )


def resolution_from(view_state: dict[str, Any]) -> str:
    """The note typed into the resolve modal, stripped; "" when left empty."""
    value = read_input(view_state, BlockId.RESOLUTION, InputActionId.RESOLUTION).get("value")
    return value.strip() if isinstance(value, str) else ""


def assignee_from(view_state: dict[str, Any]) -> str | None:
    """The Slack user picked in the reassign modal, None when missing."""
    user = read_input(view_state, BlockId.ASSIGNEE, InputActionId.ASSIGNEE).get("selected_user")
    return user if isinstance(user, str) and user else None
