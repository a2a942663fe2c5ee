"""Submissions of the modals a card's More menu opens. A value Slack lets through but we
cannot use goes back under its field (`response_action: errors`), so nothing is written;
everything else is acked at once and acted on through the intake, like any click."""

from collections.abc import Callable
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck

from app.blocks.card import CardState
from app.blocks.menu_modals import CUSTOM, chosen, typed
from app.errors import UsageError
from app.ids import BlockId, CallbackId, InputActionId
from app.incidents.grammar import ParsedCommand, Verb
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.incidents.words import parse_bridge, parse_duration, parse_ref
from app.listeners.reporting import Audience, Reporter
from app.listeners.views.card_modals import STALE_FORM, _origin
from app.listeners.views.form import refuse


class _Invalid(Exception):
    def __init__(self, block: BlockId, message: str) -> None:
        super().__init__(message)
        self.block, self.message = block, message


def _checked(block: BlockId, parse: Callable[[], Any]) -> Any:
    try:
        return parse()
    except UsageError as error:
        raise _Invalid(block, error.message.replace("`", "")) from None


def _snooze(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    preset = chosen(values, BlockId.DURATION, InputActionId.DURATION)
    custom = typed(values, BlockId.CUSTOM_DURATION, InputActionId.CUSTOM_DURATION)
    token = custom if preset in (CUSTOM, "") else preset
    if not token:
        raise _Invalid(BlockId.CUSTOM_DURATION, "Type how long, like 1h30m or 2d.")
    block = BlockId.CUSTOM_DURATION if token == custom else BlockId.DURATION
    seconds = _checked(block, lambda: parse_duration(token))
    return ParsedCommand(Verb.SNOOZE, (seen.incident_id,), seconds=seconds)


def _priority(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    priority = chosen(values, BlockId.PRIORITY, InputActionId.PRIORITY)
    if not priority:
        raise _Invalid(BlockId.PRIORITY, "Choose a priority.")
    return ParsedCommand(Verb.PRIORITY, (seen.incident_id,), text=priority)


def _urgency(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    urgency = chosen(values, BlockId.URGENCY, InputActionId.URGENCY)
    if urgency not in ("high", "low"):
        raise _Invalid(BlockId.URGENCY, "Choose high or low.")
    return ParsedCommand(Verb.URGENCY, (seen.incident_id,), text=urgency)


def _team(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    policy = chosen(values, BlockId.POLICY, InputActionId.POLICY)
    if not policy:
        raise _Invalid(BlockId.POLICY, "Choose a team's escalation policy.")
    return ParsedCommand(Verb.REASSIGN, (seen.incident_id,), policy=policy)


def _merge(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    block = BlockId.MERGE_TARGET
    text = typed(values, block, InputActionId.MERGE_TARGET)
    if not text:
        raise _Invalid(block, "Type the number of the incident to merge into.")
    target = _checked(block, lambda: parse_ref(text))
    if target in (seen.incident_id, str(seen.number)):
        raise _Invalid(block, "An incident cannot be merged into itself.")
    return ParsedCommand(Verb.MERGE, (target,), sources=(seen.incident_id,))


def _bridge(values: dict[str, Any], seen: CardState) -> ParsedCommand:
    url = typed(values, BlockId.BRIDGE_URL, InputActionId.BRIDGE_URL)
    number = typed(values, BlockId.BRIDGE_NUMBER, InputActionId.BRIDGE_NUMBER)
    _checked(BlockId.BRIDGE_URL, lambda: parse_bridge(url, ""))
    url, number = _checked(BlockId.BRIDGE_NUMBER, lambda: parse_bridge(url, number))
    return ParsedCommand(Verb.BRIDGE, (seen.incident_id,), text=url, dial_in=number)


READERS: dict[CallbackId, Callable[[dict[str, Any], CardState], ParsedCommand]] = {
    CallbackId.SNOOZE_MODAL: _snooze,
    CallbackId.PRIORITY_MODAL: _priority,
    CallbackId.URGENCY_MODAL: _urgency,
    CallbackId.TEAM_MODAL: _team,
    CallbackId.MERGE_MODAL: _merge,
    CallbackId.BRIDGE_MODAL: _bridge,
}


async def handle_menu_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], intake: Intake, reporter: Reporter
) -> None:
    read = READERS[CallbackId(view["callback_id"])]
    origin = _origin(view)
    if origin is None:
        inputs = [b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input"]
        await refuse(ack, str(inputs[0]) if inputs else "", STALE_FORM)
        return
    seen, card = origin
    try:
        command = read(view.get("state") or {}, seen)
    except _Invalid as invalid:
        await refuse(ack, invalid.block, invalid.message)
        return
    await ack()
    # No response_url on a modal: results and errors go as ephemerals in the card's channel.
    person = Person.of(body)
    audience = Audience(card.channel, person.slack_user_id)
    await reporter.answer(
        audience, lambda: intake.submit(command, person=person, seen=seen, card=card)
    )
