"""The card's More menu: each entry opens a small modal at once (a trigger_id lasts 3 s),
then fills it in from the incident as PagerDuty has it now."""

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.blocks.card import CardState, menu_choice
from app.blocks.menu_modals import loading_modal, menu_modal, policy_options
from app.errors import BotError, UsageError
from app.ids import MenuChoice
from app.incidents.grammar import Verb
from app.incidents.intake import Intake
from app.incidents.person import Person
from app.listeners.actions.incident_card import clicked_card, modal_metadata
from app.listeners.reporting import Audience, Reporter

VERB_OF = {
    MenuChoice.SNOOZE: Verb.SNOOZE,
    MenuChoice.PRIORITY: Verb.PRIORITY,
    MenuChoice.URGENCY: Verb.URGENCY,
    MenuChoice.TEAM: Verb.REASSIGN,
    MenuChoice.MERGE: Verb.MERGE,
    MenuChoice.BRIDGE: Verb.BRIDGE,
}


def chosen_entry(action: dict[str, Any]) -> tuple[MenuChoice, CardState]:
    option = action.get("selected_option")
    try:
        return menu_choice(str(option.get("value", "")) if isinstance(option, dict) else "")
    except ValueError:
        raise UsageError(
            "This card is too old to act on. Post a fresh one with `/incident show <number>`."
        ) from None


async def handle_more_menu(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
    intake: Intake,
    reporter: Reporter,
) -> None:
    await ack()
    async with reporter.reporting(Audience.of(body, respond)):
        choice, state = chosen_entry(action)
        card = clicked_card(body)
        opened = await client.views_open(trigger_id=body["trigger_id"], view=loading_modal(choice))
        view_id = opened["view"]["id"]
        async with reporter.refusals_in_modal(view_id, "Nothing to change"):
            incident, priorities = await intake.menu_form(
                VERB_OF[choice], person=Person.of(body), seen=state, card=card
            )
            view = menu_modal(choice, incident, modal_metadata(state, card), priorities)
            await client.views_update(view_id=view_id, view=view)


async def handle_policy_options(
    ack: AsyncAck, body: dict[str, Any], payload: dict[str, Any], intake: Intake
) -> None:
    """The team select's suggestions, as the person types (Slack waits 3 s at most). A
    refusal (a person of another workspace) gets no options: a select has no room to say
    why, and the form's submit says it."""
    query = str(payload.get("value") or "").strip()
    try:
        policies = await intake.policies_matching(query, person=Person.of(body)) if query else []
    except BotError:
        policies = []
    await ack(options=policy_options(policies))
