"""Submissions of the modals a card's Resolve and Reassign buttons open. Input errors go
back into the modal (`response_action: errors`); everything else is acked at once."""

import json
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from app.blocks.card import CardState
from app.blocks.modals import assignee_from, resolution_from
from app.ids import BlockId
from app.incidents.grammar import Verb
from app.incidents.intake import Intake, Way
from app.incidents.person import Person
from app.listeners.reporting import Audience, Reporter
from app.listeners.views.form import refuse, too_long
from app.store import CardRef

STALE_FORM = "This form is too old to act on; close it and click the card's button again."


def _origin(view: dict[str, Any]) -> tuple[CardState, CardRef] | None:
    """The card the modal came from, or None when the metadata is not ours."""
    try:
        metadata = json.loads(view.get("private_metadata") or "")
        card = CardRef(str(metadata["channel"]), str(metadata["ts"]))
        return CardState.from_value(str(metadata["state"])), card
    except (ValueError, KeyError, TypeError):
        return None


async def _submit(
    verb: Verb,
    body: dict[str, Any],
    origin: tuple[CardState, CardRef],
    intake: Intake,
    reporter: Reporter,
    **inputs: str,
) -> None:
    # No response_url on a modal: errors and results go as ephemerals in the card's channel.
    state, card = origin
    person = Person.of(body)
    audience = Audience(card.channel, person.slack_user_id)
    await reporter.answer(
        audience,
        lambda: intake.click(
            verb,
            person=person,
            seen=state,
            card=card,
            way=Way.MODAL,
            redraw_clicked=bool(card.ts),  # no ts: the button was on an ephemeral message
            **inputs,
        ),
    )


async def handle_resolve_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, reporter: Reporter
) -> None:
    note = resolution_from(view.get("state") or {})
    origin = _origin(view)
    if origin is None:
        await refuse(ack, BlockId.RESOLUTION, STALE_FORM)
        return
    if problem := too_long(note):
        await refuse(ack, BlockId.RESOLUTION, problem)
        return
    await ack()
    await _submit(Verb.RESOLVE, body, origin, intake, reporter, text=note)


async def handle_reassign_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, reporter: Reporter
) -> None:
    assignee = assignee_from(view.get("state") or {})
    origin = _origin(view)
    if origin is None:
        await refuse(ack, BlockId.ASSIGNEE, STALE_FORM)
        return
    if not assignee:
        await refuse(ack, BlockId.ASSIGNEE, "Choose a person.")
        return
    await ack()
    await _submit(Verb.REASSIGN, body, origin, intake, reporter, target=assignee)
