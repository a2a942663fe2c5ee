"""The incident card: drawn from PagerDuty's answer, with its buttons and More menu, and
`CardState`, what every button and menu option carries back."""

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast, get_args

from app.blocks.parts import (
    BUTTON_VALUE_MAX,
    FIELD_TEXT_MAX,
    SECTION_TEXT_MAX,
    button,
    clip,
    context,
    plain,
    slack_date,
)
from app.ids import CARD_METADATA_EVENT, ActionId, MenuChoice
from app.incidents.words import INCIDENT_ID
from app.mrkdwn import escape, link
from app.pagerduty.models import Incident, IncidentStatus, Reference, StatusUpdate

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
            data["title"] = clip(self.title, _TITLE_IN_VALUE)
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
    who: str  # a name as PagerDuty has it, never a mention: nobody is pinged for their own act
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
    if into := incident.merged_into:
        return merged_card(incident, into)
    number, title = incident.incident_number, incident.title
    head = f"{_EMOJI.get(incident.status, ':white_check_mark:')} *"
    budget = SECTION_TEXT_MAX - len(f"{head}<{incident.html_url}|#{number} >*")
    summary = f"{head}{link(incident.html_url, f'#{number} {clip(title, budget)}')}*"
    policy = incident.escalation_policy.summary
    where = "level unknown" if level is None else f"level {level}"
    where += f" of {levels}" if level is not None and levels is not None else ""
    priority = incident.priority.summary if incident.priority else "none"
    assigned = ", ".join(a.assignee.summary for a in incident.assignments) or "nobody"
    fields = [
        ("Status", incident.status.capitalize()),
        ("Urgency", escape(clip(incident.urgency, 200))),
        ("Priority", escape(clip(priority, 200))),
        ("Service", escape(clip(incident.service.summary, 1000))),
        ("Assigned", escape(clip(assigned, FIELD_TEXT_MAX - 20))),
        ("Escalation", f"{where} · {escape(clip(policy, 1000))}"),
        ("Triggered", slack_date(incident.created_at, "{date_short_pretty} at {time}")),
    ]
    if until := incident.snoozed_until:
        soon = until - datetime.now(UTC) < timedelta(hours=20)
        fields.append(("Snoozed until", slack_date(until, _TIME if soon else _DAY_AND_TIME)))
    if bridge := _bridge_text(incident):
        fields.append(("Conference bridge", bridge))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": "incident_summary",
            "text": {"type": "mrkdwn", "text": summary},
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields],
        }
    ]
    if last_action:
        who = escape(last_action.who)
        line = f"{who} {last_action.did} {slack_date(last_action.at, '{ago}')}"
        blocks.append(
            {
                "type": "context",
                "block_id": "incident_last_action",
                "elements": [{"type": "mrkdwn", "text": line}],
            }
        )
    if waiting := incident.pending_responders:
        # Named, not mentioned: the page itself reached them; the card must not ping again.
        names = ", ".join(escape(clip(r.user.summary, 100)) for r in waiting[:20])
        line = f":hourglass_flowing_sand: Asked to respond, no answer yet: {names}"
        blocks.append(context(block_id="incident_responders", text=line))
    if latest_update is not None:
        when = slack_date(latest_update.created_at, "{ago}") if latest_update.created_at else ""
        said = escape(clip(latest_update.message, FIELD_TEXT_MAX))
        blocks.append(
            context(block_id="incident_status_update", text=f":mega: Latest update {when}: {said}")
        )
    if incident.status != "resolved":
        value = CardState(incident.id, incident.status, level, number, title).to_value()
        buttons: list[dict[str, Any]] = [
            button("Resolve", ActionId.RESOLVE, value),
            button("Escalate", ActionId.ESCALATE, value)
            | {"confirm": _escalate_confirm(number, level, levels, policy)},
            button("Reassign", ActionId.REASSIGN, value),
        ]
        if incident.status == "triggered":
            ack = button("Acknowledge", ActionId.ACKNOWLEDGE, value) | {"style": "primary"}
            buttons.insert(0, ack)
        buttons.append(_more_menu(CardState(incident.id, incident.status, level, number, title)))
        blocks.append({"type": "actions", "block_id": "incident_actions", "elements": buttons})
    return {
        "text": f"Incident #{number}: {escape(clip(title, 3000))} ({incident.status})",
        "blocks": blocks,
        "metadata": _metadata({"incident_id": incident.id, "incident_number": number}),
    }


def merged_card(incident: Incident, into: Reference) -> dict[str, Any]:
    """A source of a merge: PagerDuty resolved it into `into`; no buttons are left to click."""
    what = link(incident.html_url, f"#{incident.incident_number} {clip(incident.title, 1000)}")
    label = clip(into.summary or into.id, 1000)
    target = link(into.html_url, label) if into.html_url else escape(label)
    return {
        "text": f"Incident #{incident.incident_number} was merged into {escape(label)}",
        "blocks": [
            {
                "type": "section",
                "block_id": "incident_merged",
                "text": {
                    "type": "mrkdwn",
                    "text": f":twisted_rightwards_arrows: {what} was merged into {target}",
                },
            }
        ],
        "metadata": _metadata({"incident_id": incident.id, "merged_into": into.id}),
    }


def gone_card(incident_id: str, title: str | None = None) -> dict[str, Any]:
    """PagerDuty answered 404 (merged or deleted): the card stays, its buttons go."""
    what = f"*{escape(clip(title, 2000))}*" if title else f"Incident {escape(incident_id)}"
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


_TIME = "{time}"
_DAY_AND_TIME = "{date_short_pretty} at {time}"
_SAFE_URL = re.compile(r"https?://[^\s<>|]{1,1000}")
# Each option's value carries the card's state (without the title: an option value holds
# at most 150 characters), so the chosen entry knows its incident.
MENU_VALUE_MAX = 150
_MENU = (
    (MenuChoice.SNOOZE, "Snooze…"),
    (MenuChoice.PRIORITY, "Priority…"),
    (MenuChoice.URGENCY, "Urgency…"),
    (MenuChoice.TEAM, "Reassign to a team…"),
    (MenuChoice.MERGE, "Merge into…"),
    (MenuChoice.BRIDGE, "Conference bridge…"),
)


def _more_menu(state: CardState) -> dict[str, Any]:
    """Slack's overflow menu holds at most five entries and this one has six, so "More" is
    a select whose choices act like menu entries (each opens a modal)."""
    value = replace(state, title=None).to_value()
    return {
        "type": "static_select",
        "action_id": ActionId.MORE.value,
        "placeholder": plain("More…"),
        "options": [
            {"text": plain(label), "value": f"{choice}|{value}"} for choice, label in _MENU
        ],
    }


def menu_choice(value: str) -> tuple[MenuChoice, CardState]:
    """The entry and card state of a More-menu option value; `ValueError` if not ours."""
    choice, _, state = value.partition("|")
    return MenuChoice(choice), CardState.from_value(state)


def _bridge_text(incident: Incident) -> str:
    bridge = incident.conference_bridge
    if bridge is None:
        return ""
    url, number = bridge.conference_url or "", bridge.conference_number or ""
    parts = [link(escape(url), "Join") if _SAFE_URL.fullmatch(url) else escape(clip(url, 500))]
    parts.append(escape(clip(number, 200)))
    return " · ".join(part for part in parts if part)


def _escalate_confirm(
    number: int, level: int | None, levels: int | None, policy: str
) -> dict[str, Any]:
    """Name the target level when the card knows it, so nobody escalates past what they meant."""
    if level is not None and levels is not None and level < levels:
        text = f"Escalate #{number} to level {level + 1} ({clip(policy, 200)})?"
    else:
        text = f"Escalate #{number} to the next level of its escalation policy?"
    return {
        "title": plain(f"Escalate #{number}?"),
        "text": plain(text),  # plain_text: Slack never formats it, so nothing to escape
        "confirm": plain("Escalate"),
        "deny": plain("Cancel"),
    }


def _metadata(payload: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": CARD_METADATA_EVENT, "event_payload": payload}
