"""The small modals a card's More menu opens, pre-filled from the incident as PagerDuty has
it, and what their submissions say. Pure Block Kit, like `app.blocks.card`."""

from typing import Any

from app.blocks.parts import clip, modal, naming, plain, read_input
from app.ids import BlockId, CallbackId, InputActionId, MenuChoice
from app.pagerduty.models import Incident, Priority

CUSTOM = "custom"
SNOOZE_PRESETS = (("30m", "30 min"), ("1h", "1 h"), ("4h", "4 h"), (CUSTOM, "Custom…"))
_URGENCIES = (("high", "High"), ("low", "Low"))
# A select shows at most 100 options; an account with more priorities is unheard of.
_MAX_OPTIONS = 100


def loading_modal(choice: MenuChoice) -> dict[str, Any]:
    """Opened at once (a trigger_id lasts 3 s), then replaced by the filled-in form."""
    return {
        "type": "modal",
        "title": plain(_TITLES[choice][0]),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "Looking up the incident…"}}
        ],
    }


def menu_modal(
    choice: MenuChoice, incident: Incident, metadata: str, priorities: list[Priority]
) -> dict[str, Any]:
    title, submit, callback = _TITLES[choice]
    blocks = [
        naming(incident.incident_number, incident.title),
        *_FORMS[choice](incident, priorities),
    ]
    return modal(callback, title, submit, metadata) | {"blocks": blocks}


def _snooze(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    presets = [_option(label, value) for value, label in SNOOZE_PRESETS]
    return [
        _field(
            BlockId.DURATION,
            "Snooze for",
            {
                "type": "radio_buttons",
                "action_id": InputActionId.DURATION.value,
                "options": presets,
                "initial_option": presets[0],
            },
        ),
        _field(
            BlockId.CUSTOM_DURATION,
            "Custom duration",
            _text_input(InputActionId.CUSTOM_DURATION, "e.g. 1h30m, 2d (1 minute to 7 days)"),
            optional=True,
        ),
    ]


def _priority(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    options = [_option(clip(p.name, 75), p.id) for p in priorities[:_MAX_OPTIONS]]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": InputActionId.PRIORITY.value,
        "options": options,
    }
    current = incident.priority.id if incident.priority else None
    _preselect(select, current)
    return [_field(BlockId.PRIORITY, "Priority", select)]


def _urgency(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    options = [_option(label, value) for value, label in _URGENCIES]
    radio: dict[str, Any] = {
        "type": "radio_buttons",
        "action_id": InputActionId.URGENCY.value,
        "options": options,
    }
    _preselect(radio, incident.urgency)
    return [_field(BlockId.URGENCY, "Urgency", radio)]


def _team(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    current = incident.escalation_policy
    select = {
        "type": "external_select",
        "action_id": InputActionId.POLICY.value,
        "placeholder": plain("Type a team's escalation policy"),
        "min_query_length": 1,
        "initial_option": _option(clip(current.summary or current.id, 75), current.id),
    }
    return [_field(BlockId.POLICY, "Escalation policy", select)]


def _merge(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    hint = f"Another open incident's number: #{incident.incident_number} becomes part of it."
    return [
        _field(
            BlockId.MERGE_TARGET,
            "Merge into incident",
            _text_input(InputActionId.MERGE_TARGET, "e.g. 123, #123 or PT4KHLK"),
        ),
        {"type": "context", "elements": [{"type": "plain_text", "text": hint}]},
    ]


def _bridge(incident: Incident, priorities: list[Priority]) -> list[dict[str, Any]]:
    bridge = incident.conference_bridge
    url = _text_input(InputActionId.BRIDGE_URL, "https://meet.example.com/abc")
    number = _text_input(InputActionId.BRIDGE_NUMBER, "+1 555 0100,,123#")
    if bridge is not None and bridge.conference_url:
        url["initial_value"] = bridge.conference_url[:3000]
    if bridge is not None and bridge.conference_number:
        number["initial_value"] = bridge.conference_number[:3000]
    return [
        _field(BlockId.BRIDGE_URL, "Conference link", url),
        _field(BlockId.BRIDGE_NUMBER, "Dial-in number", number, optional=True),
    ]


_FORMS = {
    MenuChoice.SNOOZE: _snooze,
    MenuChoice.PRIORITY: _priority,
    MenuChoice.URGENCY: _urgency,
    MenuChoice.TEAM: _team,
    MenuChoice.MERGE: _merge,
    MenuChoice.BRIDGE: _bridge,
}
_TITLES = {
    MenuChoice.SNOOZE: ("Snooze incident", "Snooze", CallbackId.SNOOZE_MODAL),
    MenuChoice.PRIORITY: ("Set priority", "Set", CallbackId.PRIORITY_MODAL),
    MenuChoice.URGENCY: ("Set urgency", "Set", CallbackId.URGENCY_MODAL),
    MenuChoice.TEAM: ("Reassign to a team", "Reassign", CallbackId.TEAM_MODAL),
    MenuChoice.MERGE: ("Merge incident", "Merge", CallbackId.MERGE_MODAL),
    MenuChoice.BRIDGE: ("Conference bridge", "Save", CallbackId.BRIDGE_MODAL),
}


def policy_options(policies: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Options for the team select, from (id, name) pairs."""
    return [_option(clip(name or id, 75), id) for id, name in policies[:_MAX_OPTIONS]]


# --- reading a submission (untrusted JSON: anything missing reads as "") -----------------


def chosen(view_state: dict[str, Any], block: BlockId, action: InputActionId) -> str:
    """The value of a select or radio choice."""
    option = read_input(view_state, block, action).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else ""


def typed(view_state: dict[str, Any], block: BlockId, action: InputActionId) -> str:
    """What was typed into a text input, stripped."""
    value = read_input(view_state, block, action).get("value")
    return value.strip() if isinstance(value, str) else ""


def _field(
    block: BlockId, label: str, element: dict[str, Any], *, optional: bool = False
) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block.value,
        "optional": optional,
        "label": plain(label),
        "element": element,
    }


def _text_input(action: InputActionId, placeholder: str) -> dict[str, Any]:
    return {
        "type": "plain_text_input",
        "action_id": action.value,
        "placeholder": plain(placeholder),
    }


def _preselect(element: dict[str, Any], value: str | None) -> None:
    """The incident's current value, chosen already (when it is one of the options)."""
    for option in element["options"]:
        if option["value"] == value:
            element["initial_option"] = option


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": plain(label), "value": value}
