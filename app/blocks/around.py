"""Block Kit for the answers around an incident: who is on call (with its Share button),
your incidents (with the card's Acknowledge and Resolve buttons), and the "Page on-call
about this" modal. Pure builders, like `app.blocks`."""

import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from app.blocks.card import CardState
from app.blocks.parts import SECTION_TEXT_MAX, button, context, plain, slack_date
from app.ids import ActionId, BlockId, CallbackId, InputActionId
from app.incidents.outcomes import ago, incident_link
from app.mrkdwn import escape
from app.pagerduty.models import EscalationPolicy, Incident, OnCall, Service

_TITLE_MAX = 150  # PagerDuty's longest title is 1024; a modal's input may hold more
TITLE_INPUT_MAX = 1024


def oncall_text(shown: Sequence[tuple[EscalationPolicy, list[OnCall]]]) -> str:
    """Level by level: who, through which schedule, until when (in each reader's zone).
    People are named, not mentioned: reading who is on call must not page anyone."""
    parts = []
    for policy, oncalls in shown:
        lines = [f"*{escape(policy.name or policy.summary or policy.id)}*"]
        ordered = sorted(oncalls, key=lambda o: o.escalation_level)
        for level, entries in groupby(ordered, key=lambda o: o.escalation_level):
            for entry in entries:
                how = escape(entry.schedule.summary) if entry.schedule else "named in the policy"
                until = (
                    f"until {slack_date(entry.end, '{date_short_pretty} at {time}')}"
                    if entry.end
                    else "no shift end"
                )
                lines.append(f"Level {level}: {escape(entry.user.summary)} · {how} · {until}")
        if len(lines) == 1:
            lines.append("Nobody is on call on this policy now.")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)[: SECTION_TEXT_MAX * 10]


def oncall_blocks(shown: Sequence[tuple[EscalationPolicy, list[OnCall]]]) -> list[dict[str, Any]]:
    """One section per policy, then Share in channel (the value names the policies, so the
    click reads who is on call again rather than posting a stale answer)."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": oncall_text([one])[:SECTION_TEXT_MAX]},
        }
        for one in shown[:45]
    ]
    policy_ids = [policy.id for policy, _ in shown]
    blocks.append(
        {
            "type": "actions",
            "block_id": "oncall_share",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Share in channel"},
                    "action_id": ActionId.SHARE_ONCALL.value,
                    "value": json.dumps(policy_ids)[:2000],
                }
            ],
        }
    )
    return blocks


def shared_policy_ids(value: str) -> tuple[str, ...]:
    """The policies a Share button names; anyone can post any value, so check it."""
    try:
        ids = json.loads(value)
    except ValueError:
        return ()
    if not isinstance(ids, list) or not all(isinstance(i, str) and i.isalnum() for i in ids):
        return ()
    return tuple(ids[:45])


def mine_blocks(incidents: Sequence[Incident], beyond: str) -> list[dict[str, Any]]:
    """Newest first: number, title, age, and the buttons a card has for them."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Your open incidents*"}}
    ]
    for incident in incidents:
        state = CardState(
            incident.id, incident.status, None, incident.incident_number, incident.title
        ).to_value()
        line = f"{incident_link(incident)} · {incident.status} ·{ago(incident.created_at)}"
        buttons = [button("Resolve", ActionId.RESOLVE, state)]
        if incident.status == "triggered":
            buttons.insert(0, button("Acknowledge", ActionId.ACKNOWLEDGE, state))
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": line[:SECTION_TEXT_MAX]}}
        )
        blocks.append({"type": "actions", "elements": buttons})
    if beyond:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"…and {beyond} more in PagerDuty."}],
            }
        )
    return blocks


def page_oncall_modal(
    private_metadata: str, *, title: str, services: Sequence[Service] | None
) -> dict[str, Any]:
    """The "Page on-call about this" modal: it opens at once with `services=None` (a
    trigger_id lasts 3 s), then is updated with the services to pick from."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": BlockId.TITLE.value,
            "label": plain("Title"),
            "element": {
                "type": "plain_text_input",
                "action_id": InputActionId.TITLE.value,
                "initial_value": title[:TITLE_INPUT_MAX],
                "max_length": TITLE_INPUT_MAX,
            },
        }
    ]
    if services is None:
        blocks.append(context("Looking up the services…"))
    else:
        options = [{"text": plain(s.name[:75]), "value": s.id} for s in services if not s.disabled][
            :100
        ]
        if options:
            blocks.append(
                {
                    "type": "input",
                    "block_id": BlockId.SERVICE.value,
                    "optional": True,
                    "label": plain("Service"),
                    "element": {
                        "type": "static_select",
                        "action_id": InputActionId.SERVICE.value,
                        "options": options,
                        "initial_option": options[0],
                    },
                }
            )
        blocks.append(
            {
                "type": "input",
                "block_id": BlockId.SERVICE_NAME.value,
                "optional": bool(options),
                "label": plain("Or another service, by name"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": InputActionId.SERVICE_NAME.value,
                    "max_length": 255,
                },
            }
        )
    urgencies = [{"text": plain(u.capitalize()), "value": u} for u in ("high", "low")]
    blocks.append(
        {
            "type": "input",
            "block_id": BlockId.URGENCY.value,
            "label": plain("Urgency"),
            "element": {
                "type": "radio_buttons",
                "action_id": InputActionId.URGENCY.value,
                "options": urgencies,
                "initial_option": urgencies[0],
            },
        }
    )
    return {
        "type": "modal",
        "callback_id": CallbackId.PAGE_ONCALL_MODAL.value,
        "title": plain("Page on-call"),
        "submit": plain("Open incident"),
        "close": plain("Cancel"),
        "private_metadata": private_metadata,
        "blocks": blocks,
    }


def page_oncall_from(view_state: dict[str, Any]) -> tuple[str, str, str, str]:
    """(title, picked service id, typed service name, urgency) from a submission; "" for
    each missing. A submission is untrusted JSON: any odd shape reads as empty."""
    values = view_state.get("values", {}) if isinstance(view_state, dict) else {}

    def element(block: str, action: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(action) if isinstance(values, dict) else None
        return found if isinstance(found, dict) else {}

    def text(value: Any) -> str:
        return value.strip() if isinstance(value, str) else ""

    picked = element(BlockId.SERVICE, InputActionId.SERVICE).get("selected_option") or {}
    urgency = element(BlockId.URGENCY, InputActionId.URGENCY).get("selected_option") or {}
    return (
        text(element(BlockId.TITLE, InputActionId.TITLE).get("value")),
        text(picked.get("value") if isinstance(picked, dict) else None),
        text(element(BlockId.SERVICE_NAME, InputActionId.SERVICE_NAME).get("value")),
        text(urgency.get("value") if isinstance(urgency, dict) else None),
    )
