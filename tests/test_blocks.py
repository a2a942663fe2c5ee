"""Cards and modals are pure Block Kit: every button, escape and Slack limit, without a server."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.blocks.card import CardState, LastAction, gone_card, incident_card
from app.blocks.modals import assignee_from, reassign_modal, resolution_from, resolve_modal
from app.ids import CARD_METADATA_EVENT, ActionId, BlockId, CallbackId, InputActionId
from app.pagerduty.models import (
    ConferenceBridge,
    Incident,
    PendingAction,
    Reference,
    ResolveReason,
)

EVIL = "<!channel> db & cache <@U0BOSS> down"


def _ref(kind: str, id: str, summary: str) -> dict[str, Any]:
    return {
        "id": id,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"https://api.pagerduty.com/{kind}s/{id}",
        "html_url": f"https://acme.pagerduty.com/{kind}s/{id}",
    }


def make_incident(
    status: str = "triggered",
    *,
    title: str = "checkout API error rate high",
    assignees: tuple[str, ...] = ("Alice Oncall",),
    policy: str = "Checkout on-call",
    priority: str | None = None,
) -> Incident:
    """PagerDuty's REST shape, as the stand-in's `add_incident` serves it."""
    now = "2024-03-08T05:10:13Z"
    service = _ref("service", "PSVC001", "Checkout API")
    return Incident.model_validate(
        {
            **_ref("incident", "PT4KHLK", f"[#123] {title}"),
            "type": "incident",
            "incident_number": 123,
            "title": title,
            "status": status,
            "urgency": "high",
            "created_at": now,
            "updated_at": now,
            "service": service,
            "escalation_policy": _ref("escalation_policy", "PEPOL01", policy),
            "assignments": [
                {"at": now, "assignee": _ref("user", f"PUSER0{i}", name)}
                for i, name in enumerate(assignees)
            ],
            "acknowledgements": [],
            "last_status_change_at": now,
            "last_status_change_by": service,
            "priority": _ref("priority", "PPRIO01", priority) if priority else None,
            "resolve_reason": None,
            "incident_key": "0123456789abcdef",
        }
    )


def card(incident: Incident, level: int | None = 1, levels: int | None = 3) -> dict[str, Any]:
    last = LastAction("Alice Example", "acknowledged", datetime(2024, 3, 8, 5, 12, tzinfo=UTC))
    return incident_card(incident, level=level, levels=levels, last_action=last)


def actions(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = [b for b in message["blocks"] if b["type"] == "actions"]
    assert len(blocks) <= 1
    return blocks[0]["elements"] if blocks else []


def escalate_confirm_text(message: dict[str, Any]) -> str:
    (button,) = [b for b in actions(message) if b["action_id"] == ActionId.ESCALATE]
    return str(button["confirm"]["text"]["text"])


def texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn string Slack would format, plus the notification fallback."""
    found = [message["text"]]
    for block in message["blocks"]:
        found += [t["text"] for t in [block.get("text"), *block.get("fields", [])] if t]
        found += [e["text"] for e in block.get("elements", []) if e["type"] == "mrkdwn"]
    return found


def test_a_triggered_card_offers_acknowledge_resolve_escalate_reassign_in_that_order() -> None:
    buttons = actions(card(make_incident("triggered")))
    assert [b["action_id"] for b in buttons] == [
        ActionId.ACKNOWLEDGE,
        ActionId.RESOLVE,
        ActionId.ESCALATE,
        ActionId.REASSIGN,
        ActionId.MORE,
    ]
    assert buttons[0]["style"] == "primary"
    assert all(
        b["text"] == {**b["text"], "type": "plain_text", "emoji": True} for b in buttons[:-1]
    )


def test_an_acknowledged_card_drops_acknowledge() -> None:
    buttons = actions(card(make_incident("acknowledged")))
    assert [b["action_id"] for b in buttons] == [
        ActionId.RESOLVE,
        ActionId.ESCALATE,
        ActionId.REASSIGN,
        ActionId.MORE,
    ]


def test_a_resolved_card_has_no_actions_block_at_all() -> None:
    message = card(make_incident("resolved", assignees=()))
    assert not [b for b in message["blocks"] if b["type"] == "actions"]
    assert message["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


@pytest.mark.parametrize("status", ["triggered", "acknowledged"])
@pytest.mark.parametrize("level", [1, None])
def test_every_button_value_round_trips_with_the_state_the_card_showed(
    status: str, level: int | None
) -> None:
    buttons = [
        b for b in actions(card(make_incident(status), level=level)) if b["type"] == "button"
    ]
    assert buttons
    for button in buttons:
        assert len(button["value"]) <= 2000
        expected = CardState("PT4KHLK", status, level, 123, "checkout API error rate high")  # type: ignore[arg-type]
        assert CardState.from_value(button["value"]) == expected


def test_the_metadata_carries_the_incident_id_and_number_for_thread_replies() -> None:
    assert card(make_incident())["metadata"] == {
        "event_type": CARD_METADATA_EVENT,
        "event_payload": {"incident_id": "PT4KHLK", "incident_number": 123},
    }


def test_the_card_shows_fields_and_the_last_action_in_each_readers_time_zone() -> None:
    message = card(make_incident(assignees=("Alice", "Bob"), priority="P1"))
    fields = [f["text"] for f in message["blocks"][0]["fields"]]
    assert fields[:6] == [
        "*Status*\nTriggered",
        "*Urgency*\nhigh",
        "*Priority*\nP1",
        "*Service*\nCheckout API",
        "*Assigned*\nAlice, Bob",
        "*Escalation*\nlevel 1 of 3 · Checkout on-call",
    ]
    assert fields[6] == (
        "*Triggered*\n<!date^1709874613^{date_short_pretty} at {time}|2024-03-08T05:10:13Z>"
    )
    context = [b for b in message["blocks"] if b["type"] == "context"]
    assert context[0]["elements"][0]["text"] == (
        "Alice Example acknowledged <!date^1709874720^{ago}|2024-03-08T05:12:00Z>"
    )
    assert message["text"] == "Incident #123: checkout API error rate high (triggered)"


def test_unknown_level_nobody_assigned_and_no_priority_say_so() -> None:
    message = incident_card(make_incident(assignees=()), level=None, levels=None, last_action=None)
    fields = [f["text"] for f in message["blocks"][0]["fields"]]
    assert "*Priority*\nnone" in fields
    assert "*Assigned*\nnobody" in fields
    assert "*Escalation*\nlevel unknown · Checkout on-call" in fields
    assert not [b for b in message["blocks"] if b["type"] == "context"]


def test_escalate_confirm_names_level_2_when_the_card_shows_level_1_of_3() -> None:
    message = card(make_incident(), level=1, levels=3)
    (button,) = [b for b in actions(message) if b["action_id"] == ActionId.ESCALATE]
    assert button["confirm"]["title"]["text"] == "Escalate #123?"
    assert button["confirm"]["confirm"]["text"] == "Escalate"
    assert button["confirm"]["deny"]["text"] == "Cancel"
    assert escalate_confirm_text(message) == "Escalate #123 to level 2 (Checkout on-call)?"


@pytest.mark.parametrize(("level", "levels"), [(None, 3), (3, 3), (1, None)])
def test_escalate_confirm_says_the_next_level_when_the_target_is_not_known(
    level: int | None, levels: int | None
) -> None:
    assert escalate_confirm_text(card(make_incident(), level=level, levels=levels)) == (
        "Escalate #123 to the next level of its escalation policy?"
    )


def test_resolve_has_no_confirm_because_it_opens_a_modal() -> None:
    (button,) = [b for b in actions(card(make_incident())) if b["action_id"] == ActionId.RESOLVE]
    assert "confirm" not in button


def test_a_title_that_pings_the_channel_is_escaped_everywhere() -> None:
    message = card(make_incident(title=EVIL, assignees=(EVIL,), policy=EVIL, priority=EVIL))
    rendered = texts(message)
    assert any("&lt;!channel&gt; db &amp; cache &lt;@U0BOSS&gt;" in t for t in rendered)
    assert message["text"].startswith("Incident #123: &lt;!channel&gt; db &amp; cache")
    for text in rendered:
        assert "<!channel>" not in text
        assert "<@U0BOSS>" not in text
        assert "& " not in text


def test_a_5000_char_title_stays_within_slacks_limits() -> None:
    title = "&" * 2500 + "x" * 2500
    message = card(make_incident(title=title, assignees=("A" * 3000,) * 5, policy="<" * 5000))
    assert len(message["blocks"]) <= 50
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
    summary = message["blocks"][0]["text"]["text"]
    assert summary.endswith("&amp;…>*")  # cut between entities, never inside one
    assert len(escalate_confirm_text(message)) <= 300


@pytest.mark.parametrize(
    "value",
    [
        "",
        "{}",
        "[]",
        "null",
        "not json",
        '{"incident_id": 1}',
        '{"incident_id":"P1","status":"exploded","level":null}',
        '{"incident_id":"P1","status":"triggered"}',
        '{"incident_id":"P1","status":"triggered","level":"2"}',
        '{"incident_id":"P1","status":"triggered","level":true}',
        '{"incident_id":"P1","status":"triggered","level":0}',
        '{"incident_id":"../users","status":"triggered","level":1}',
        '{"incident_id":"","status":"triggered","level":1}',
        "[" * 1500 + "]" * 1500,
        "x" * 2001,
    ],
)
def test_card_state_rejects_garbage(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any malformed value is the same error
        CardState.from_value(value)


def test_card_state_is_compact_json() -> None:
    value = CardState("PT4KHLK", "acknowledged", 2).to_value()
    assert value == '{"incident_id":"PT4KHLK","status":"acknowledged","level":2}'


def test_a_gone_card_says_so_and_offers_no_buttons() -> None:
    message = gone_card("PT4KHLK", EVIL)
    assert not actions(message)
    assert len(message["blocks"]) == 1
    assert "no longer in PagerDuty" in message["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt;" in message["blocks"][0]["text"]["text"]
    assert message["metadata"]["event_payload"]["incident_id"] == "PT4KHLK"
    assert "PT4KHLK" in gone_card("PT4KHLK")["blocks"][0]["text"]["text"]


def test_the_resolve_modal_asks_for_an_optional_note_up_to_max_chars() -> None:
    view = resolve_modal(123, EVIL, '{"incident_id":"PT4KHLK"}', 2000)
    assert view["type"] == "modal"
    assert view["callback_id"] == CallbackId.RESOLVE_MODAL
    assert view["private_metadata"] == '{"incident_id":"PT4KHLK"}'
    assert [view[k]["text"] for k in ("title", "submit", "close")] == [
        "Resolve incident",
        "Resolve",
        "Cancel",
    ]
    assert len(view["title"]["text"]) <= 24
    assert view["blocks"][0]["text"]["text"].startswith("*#123* &lt;!channel&gt;")
    (note,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert note["block_id"] == BlockId.RESOLUTION
    assert note["optional"] is True
    assert note["label"]["text"] == "Resolution note"
    assert note["element"] == {
        "type": "plain_text_input",
        "action_id": InputActionId.RESOLUTION,
        "multiline": True,
        "max_length": 2000,
    }


def test_the_reassign_modal_asks_for_a_slack_user() -> None:
    view = reassign_modal(123, "db slow", "meta")
    assert view["callback_id"] == CallbackId.REASSIGN_MODAL
    assert view["title"]["text"] == "Reassign incident"
    assert len(view["title"]["text"]) <= 24
    assert view["submit"]["text"] == "Reassign"
    (pick,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert pick["block_id"] == BlockId.ASSIGNEE
    assert pick["label"]["text"] == "Reassign to"
    assert pick["element"] == {"type": "users_select", "action_id": InputActionId.ASSIGNEE}


def submitted_state(block_id: str, action_id: str, element: dict[str, Any]) -> dict[str, Any]:
    """The sample view_submission payload's `view.state`, with our input swapped in."""
    with open("/work/shared/contracts/slack/requests/view_submission.payload.json") as f:
        state: dict[str, Any] = json.load(f)["view"]["state"]
    state["values"][block_id] = {action_id: element}
    return state


def test_a_submitted_note_and_assignee_are_read_from_the_view_state() -> None:
    note = {"type": "plain_text_input", "value": "  rolled back deploy 42\n"}
    state = submitted_state(BlockId.RESOLUTION, InputActionId.RESOLUTION, note)
    assert resolution_from(state) == "rolled back deploy 42"
    assert resolution_from(state["values"]) == "rolled back deploy 42"
    pick = {"type": "users_select", "selected_user": "U0BOB0001"}
    state = submitted_state(BlockId.ASSIGNEE, InputActionId.ASSIGNEE, pick)
    assert assignee_from(state) == "U0BOB0001"


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"values": {}},
        {"values": None},
        {"values": {"resolution": None, "assignee": "x"}},
        {"values": {"resolution": {"resolution_input": {"value": None}}}},
        {"values": {"assignee": {"assignee_select": {"selected_user": None}}}},
        {"values": {"resolution": {"resolution_input": {"value": 7}}}},
    ],
)
def test_an_empty_or_odd_view_state_reads_as_no_note_and_no_assignee(
    state: dict[str, Any],
) -> None:
    assert resolution_from(state) == ""
    assert assignee_from(state) is None


def fields_of(message: dict[str, Any]) -> dict[str, str]:
    return dict(f["text"].split("\n", 1) for f in message["blocks"][0]["fields"])


def test_a_snoozed_card_says_until_when_in_each_readers_time_zone() -> None:
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    at = until.strftime("%Y-%m-%dT%H:%M:%SZ")
    incident = make_incident("acknowledged").model_copy(
        update={"pending_actions": [PendingAction(type="unacknowledge", at=until)]}
    )

    shown = fields_of(card(incident))["*Snoozed until*"]

    assert shown == f"<!date^{int(until.timestamp())}^{{time}}|{at}>"


def test_the_bridge_is_a_join_link_and_a_link_slack_would_misread_is_shown_as_text() -> None:
    bridge = ConferenceBridge(
        conference_url="https://meet.example.com/a?b=1&c=2", conference_number="+1 555"
    )
    odd = ConferenceBridge(conference_url="zoom <!channel>", conference_number=None)

    good = fields_of(card(make_incident().model_copy(update={"conference_bridge": bridge})))
    bad = fields_of(card(make_incident().model_copy(update={"conference_bridge": odd})))

    assert good["*Conference bridge*"] == "<https://meet.example.com/a?b=1&amp;c=2|Join> · +1 555"
    assert bad["*Conference bridge*"] == "zoom &lt;!channel&gt;"
    assert "*Conference bridge*" not in fields_of(card(make_incident()))


def test_a_card_of_an_incident_pagerduty_merged_says_into_which_and_has_no_buttons() -> None:
    into = Reference(
        id="PT9TGT0",
        summary="[#200] <b>storm</b>",
        html_url="https://acme.pagerduty.com/incidents/PT9TGT0",
    )
    reason = ResolveReason(type="merge_resolve_reason", incident=into)
    merged = make_incident("resolved", assignees=()).model_copy(update={"resolve_reason": reason})

    message = card(merged)

    assert actions(message) == []
    assert message["blocks"][0]["text"]["text"] == (
        ":twisted_rightwards_arrows: <https://acme.pagerduty.com/incidents/PT4KHLK|#123 checkout "
        "API error rate high> was merged into <https://acme.pagerduty.com/incidents/PT9TGT0|"
        "[#200] &lt;b&gt;storm&lt;/b&gt;>"
    )
