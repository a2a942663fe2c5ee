"""The one pipeline every way in (slash command, mention, button, modal, shortcut) runs:

    workspace -> channel -> identity -> policy -> audit -> act -> redraw -> Reply

Every way in must hand over the `Person` acting (read from the Slack request), so none can
skip the workspace check. Workspace, channel and identity are checked here, once per
request; the policy's per-incident rules are checked by the action on its fresh read (they
depend on the incident's urgency). Every attempt leaves an audit row and a metric,
refusals included, whichever way it came in.
"""

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.blocks.card import CardState
from app.errors import BotError, NothingToDo, UsageError
from app.identity import IdentityResolver, VerifiedUser
from app.incidents.actions import IncidentActions
from app.incidents.audit import AuditTrail
from app.incidents.cards import IncidentCards
from app.incidents.grammar import (
    ParsedCommand,
    Verb,
    mentioned_verb,
    parse_command,
    parse_mention,
    without_mention_of,
)
from app.incidents.installation import InstallationLookup
from app.incidents.outcomes import EscalationPreview, Outcome, Reply, incident_link
from app.incidents.person import Person
from app.incidents.responding import Answer, Responding
from app.incidents.updates import IncidentUpdates
from app.incidents.usage import MENTION_USAGE, USAGE
from app.incidents.words import checked_text, message_as_typed
from app.mrkdwn import escape
from app.pagerduty.errors import IncidentNotFound
from app.pagerduty.models import Incident, Priority, Service
from app.policy import Policy
from app.store import CardRef, Store

logger = logging.getLogger(__name__)


class Way(StrEnum):
    """How a request came in; it decides only how the answer is delivered."""

    COMMAND = "command"
    MENTION = "mention"
    BUTTON = "button"
    MODAL = "modal"
    SHORTCUT = "shortcut"


@dataclass(frozen=True)
class Request:
    command: ParsedCommand
    person: Person
    channel: str
    way: Way
    origin: CardRef | None = None  # the card thread it was asked in: the reply goes there
    clicked: CardRef | None = None  # the card whose button or modal it was
    seen: CardState | None = None  # what that card showed when it was clicked

    @property
    def announced(self) -> bool:
        """Commands and mentions are answered in public; clicks speak through the card."""
        return self.way in (Way.COMMAND, Way.MENTION)


class Intake:
    def __init__(
        self,
        *,
        actions: IncidentActions,
        cards: IncidentCards,
        identity: IdentityResolver,
        policy: Policy,
        store: Store,
        installation: InstallationLookup,
        responding: Responding,
        updates: IncidentUpdates,
    ) -> None:
        self._installation = installation
        self._responding = responding
        self._updates = updates
        self._actions = actions
        self._cards = cards
        self._identity = identity
        self._policy = policy
        self._audit = AuditTrail(store)

    # --- the ways in ------------------------------------------------------------------

    async def command(self, text: str, *, person: Person, channel: str) -> Reply:
        """`/incident ...`."""
        return await self.handle(Request(parse_command(text), person, channel, Way.COMMAND))

    async def mention(
        self,
        text: str,
        *,
        bot_user_id: str,
        person: Person,
        channel: str,
        thread_ts: str | None,
    ) -> Reply:
        """`@incident-bot <verb> ...`: in a card's thread the incident is the card's."""
        text = without_mention_of(bot_user_id, text)
        verb, incident_id = mentioned_verb(text), None
        if thread_ts and verb.needs_incident:
            asked = Request(ParsedCommand(verb), person, channel, Way.MENTION)
            await self._admit_workspace(asked, "")  # before the thread is read for them
            incident_id = await self._cards.incident_in_thread(channel, thread_ts)
        command = parse_mention(text, incident_id)
        origin = CardRef(channel, thread_ts) if incident_id and thread_ts else None
        return await self.handle(Request(command, person, channel, Way.MENTION, origin))

    async def click(
        self,
        verb: Verb,
        *,
        person: Person,
        seen: CardState,
        card: CardRef,
        way: Way = Way.BUTTON,
        text: str = "",
        target: str = "",
        redraw_clicked: bool = True,
    ) -> Reply:
        """A card's button, or the modal it opened: `seen` is what the card showed. An
        ephemeral card (`redraw_clicked=False`) cannot be updated; the incident's posted
        cards still are."""
        command = ParsedCommand(verb, (seen.incident_id,), text=text, target=target)
        clicked = card if redraw_clicked else None
        request = Request(command, person, card.channel, way, clicked=clicked, seen=seen)
        return await self.handle(request)

    async def share_oncall(
        self, *, person: Person, channel: str, policy_ids: tuple[str, ...]
    ) -> Reply:
        """The private on-call answer's Share button: read again, post in the channel."""
        command = ParsedCommand(Verb.ONCALL, targets=policy_ids)
        return await self.handle(Request(command, person, channel, Way.BUTTON))

    async def page_oncall_about(
        self,
        *,
        person: Person,
        channel: str,
        message_ts: str,
        service: str,
        title: str,
        urgency: str,
    ) -> Reply:
        """The "Page on-call about this" modal, submitted: the message's channel and ts make
        the incident key, so a double submit opens one incident."""
        link = await self._cards.permalink(channel, message_ts) if message_ts else ""
        command = ParsedCommand(
            Verb.TRIGGER,
            target=service,
            text=checked_text(title, "title"),
            new_urgency=urgency,
            incident_key=f"slack:{channel}:{message_ts}" if message_ts else "",
            source_link=link,
        )
        return await self.handle(Request(command, person, channel, Way.MODAL))

    async def services_to_page(self, *, person: Person, channel: str) -> list[Service]:
        """What the "Page on-call about this" modal offers (this channel's services first),
        once the person's workspace, the channel and their identity are admitted: a person
        the submit would refuse is refused before PagerDuty is read for them."""
        request = Request(ParsedCommand(Verb.TRIGGER), person, channel, Way.SHORTCUT)
        await self._admit(request, "")
        return await self._responding.routed_services(channel)

    async def submit(
        self, command: ParsedCommand, *, person: Person, seen: CardState, card: CardRef
    ) -> Reply:
        """A card's More-menu modal, submitted. A merge acts on the incident it names (the
        card's incident is its source, redrawn by the merge), so it has no clicked card."""
        clicked = None if command.verb is Verb.MERGE else card
        request = Request(command, person, card.channel, Way.MODAL, clicked=clicked, seen=seen)
        return await self.handle(request)

    async def open_form(
        self, verb: Verb, *, person: Person, seen: CardState, card: CardRef
    ) -> None:
        """A card's Resolve or Reassign button: refuse another workspace's person or a channel
        outside the policy at the click (no call out: the trigger_id lasts 3 s)."""
        command = ParsedCommand(verb, (seen.incident_id,))
        request = Request(command, person, card.channel, Way.BUTTON, clicked=card, seen=seen)
        await self._admit_workspace(request, seen.incident_id)
        async with self._attempt(request, seen.incident_id, record_success=False):
            self._policy.check_channel(card.channel)

    async def menu_form(
        self, verb: Verb, *, person: Person, seen: CardState, card: CardRef
    ) -> tuple[Incident, list[Priority]]:
        """What a More-menu modal is filled in with, once the channel and the person are
        admitted: the incident as PagerDuty has it now (and, for `priority`, the account's
        priorities). The card is redrawn from that read, which also clears its menu."""
        command = ParsedCommand(verb, (seen.incident_id,))
        request = Request(command, person, card.channel, Way.BUTTON, clicked=card, seen=seen)
        await self._admit(request, seen.incident_id)
        async with self._attempt(request, seen.incident_id, record_success=False):
            incident = await self._updates.incident(seen.incident_id)
            priorities = await self._updates.priorities() if verb is Verb.PRIORITY else []
        await self._cards.redraw(card, incident, incident.id)
        return incident, priorities

    async def policies_matching(self, query: str, *, person: Person) -> list[tuple[str, str]]:
        """(id, name) of the escalation policies whose name contains `query`: the team
        select's suggestions as the person types, for the bot's own workspaces only (an
        options request names no channel, and a stranger's can only be forged or stale)."""
        request = Request(ParsedCommand(Verb.REASSIGN), person, "", Way.MODAL)
        await self._admit_workspace(request, "")
        return [(p.id, p.name) for p in await self._updates.policies_matching(query)]

    async def escalate_in_thread(
        self,
        *,
        person: Person,
        channel: str,
        incident_id: str,
        level: int | None,
        note: str,
    ) -> Reply:
        """The escalate shortcut's modal, submitted."""
        command = ParsedCommand(Verb.ESCALATE, (incident_id,), level=level, text=note)
        return await self.handle(Request(command, person, channel, Way.MODAL))

    async def handle(self, request: Request) -> Reply:
        """Raises `BotError` when nothing at all could be done."""
        verb = request.command.verb
        if verb is Verb.HELP:
            return Reply(private=[MENTION_USAGE if request.way is Way.MENTION else USAGE])
        if verb is Verb.WHOAMI:
            (await self._installation.get()).check_team(request.person.team_id)
            return Reply(private=[await self._whoami(request.person.slack_user_id)])
        if not verb.needs_incident:
            return await self._around(request)
        actor = await self._admit(request, " ".join(request.command.refs))
        refs = request.command.refs
        if len(refs) == 1:
            return await self._act(request, actor, refs[0])
        results = await asyncio.gather(
            *(self._act(request, actor, ref) for ref in refs), return_exceptions=True
        )
        reply = Reply()
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, BotError):
                reply.private.append(f"{ref}: {result.message}")
            elif isinstance(result, BaseException):
                raise result
            else:
                reply += result
        return reply

    async def add_message_to_notes(
        self, *, person: Person, channel: str, message: dict[str, Any]
    ) -> Reply:
        """The "Add to incident notes" shortcut: the message, its author and a permalink
        become a PagerDuty note written as the person who used the shortcut."""
        request = Request(ParsedCommand(Verb.NOTE), person, channel, Way.SHORTCUT)
        await self._admit_workspace(request, "")  # before the thread is read for them
        parent = str(message.get("thread_ts") or message.get("ts") or "")
        incident_id = await self._cards.incident_in_thread(channel, parent) if parent else None
        if incident_id is None:
            raise UsageError(
                "That message is not in an incident card's thread, so I don't know which "
                "incident to add it to. Use `/incident note <ref> <text>` instead."
            )
        command = ParsedCommand(Verb.NOTE, (incident_id,))
        request = replace(request, command=command, origin=CardRef(channel, parent))
        actor = await self._admit(request, incident_id)
        async with self._attempt(request, incident_id, record_success=False):
            # A message posted with blocks only (by an app, say) has an empty `text`.
            text = message_as_typed(message)
            if not text:
                raise UsageError("That message has no text to add.")
            author = await self._cards.display_name(str(message.get("user") or ""))
            permalink = await self._cards.permalink(channel, str(message.get("ts") or ""))
            note = f"{text}\n— {author} in Slack" + (f": {permalink}" if permalink else "")
        command = replace(request.command, text=checked_text(note, "message"))
        return await self._act(replace(request, command=command), actor, incident_id)

    async def escalation_preview(
        self, *, person: Person, channel: str, thread_ts: str
    ) -> EscalationPreview | None:
        """What the escalate shortcut's modal shows for the incident whose card starts the
        thread (None: no card does): where it stands and its next level. The person's
        workspace is checked before the thread is read, then the channel, the person and
        the policy must allow them to escalate it."""
        request = Request(ParsedCommand(Verb.ESCALATE), person, channel, Way.SHORTCUT)
        await self._admit_workspace(request, "")
        incident_id = await self._cards.incident_in_thread(channel, thread_ts)
        if incident_id is None:
            return None
        request = replace(request, command=ParsedCommand(Verb.ESCALATE, (incident_id,)))
        actor = await self._admit(request, incident_id)
        async with self._attempt(request, incident_id, record_success=False):
            incident, where = await self._actions.preview_escalation(actor, incident_id)
        now = f"level {where.current} of {where.levels}" if where.current else "an unknown level"
        about = f"{incident_link(incident)} is at {now} of {where.policy_name}."
        return EscalationPreview(incident_id, about, where.following)

    # --- the steps ---------------------------------------------------------------------

    async def _whoami(self, slack_user_id: str) -> str:
        actor = await self._identity.resolve(slack_user_id)
        return (
            f"You act in PagerDuty as {escape(actor.pagerduty.name)} "
            f"({escape(actor.email)}), matched by your {actor.source}."
        )

    async def _admit(self, request: Request, incident: str) -> VerifiedUser:
        """The person's workspace, the channel, then identity: a refusal here is audited
        against every ref asked for."""
        await self._admit_workspace(request, incident)
        async with self._attempt(request, incident, record_success=False):
            self._policy.check_channel(request.channel)
            return await self._identity.resolve(request.person.slack_user_id)

    async def _admit_workspace(self, request: Request, incident: str) -> None:
        """Only the person's workspace (Slack Connect, Grid): the first check of all, and
        the only one where there is no channel or nothing to act on yet."""
        async with self._attempt(request, incident, record_success=False):
            (await self._installation.get()).check_team(request.person.team_id)

    async def _act(self, request: Request, actor: VerifiedUser, ref: str) -> Reply:
        try:
            async with self._attempt(request, ref):
                outcome = await self._actions.perform(actor, request.command, ref, request.seen)
        except IncidentNotFound:
            if request.clicked is not None:
                await self._cards.redraw(request.clicked, None, ref)
            raise
        except NothingToDo as refusal:
            if request.clicked is not None and refusal.incident is not None:
                await self._cards.redraw(request.clicked, refusal.incident, refusal.incident.id)
            raise
        return await self._tell(request, outcome)

    async def _around(self, request: Request) -> Reply:
        """A verb without an incident: the same steps, audited without an incident (or
        with the ones it changed or opened)."""
        actor = await self._admit(request, "")
        async with self._attempt(request, "", record_success=False):
            answer = await self._responding.around(actor, request.command, request.channel)
        changed = [o.incident.id for o in answer.outcomes]
        changed += [answer.opened.id] if answer.opened else []
        await self._audit.record(
            request.person.slack_user_id, request.command.verb, ",".join(changed)[:200], "done"
        )
        return await self._tell_around(request, answer)

    async def _tell_around(self, request: Request, answer: Answer) -> Reply:
        private = list(answer.private)
        stale = []
        for outcome in answer.outcomes:
            if await self._cards.refresh(outcome):
                stale.append(f"#{outcome.incident.incident_number}")
        if stale:
            private.append(
                f"Slack would not update the card(s) of {', '.join(stale)}; they may be stale "
                "until the next change."
            )
        if answer.opened is not None:
            private += await self._cards.show(answer.opened, request.channel)
        if answer.blocks:
            return Reply(list(answer.public), private[:1], list(answer.blocks))
        return Reply(list(answer.public), private)

    async def _tell(self, request: Request, outcome: Outcome) -> Reply:
        if outcome.verb is Verb.SHOW:
            return Reply(private=await self._cards.show(outcome.incident, request.channel))
        problems = await self._cards.refresh(outcome, request.origin, request.clicked)
        private = list(outcome.private)
        if request.announced:
            return Reply(public=[outcome.announcement], private=private)
        if request.way is Way.SHORTCUT:
            private.append(f"Added to the notes of {incident_link(outcome.incident)}.")
        elif request.clicked is None and request.seen is not None:
            # No card of its own shows it (the `mine` list; a merge, which redraws others).
            private.append(f"Done: {outcome.announcement}")
        elif problems:
            private.append(
                f"Done: {outcome.announcement} But Slack would not update the card "
                f"({', '.join(sorted(set(problems)))}); it may be stale until the next change."
            )
        return Reply(private=private)

    def _attempt(
        self, request: Request, incident: str, *, record_success: bool = True
    ) -> AbstractAsyncContextManager[None]:
        return self._audit.attempt(
            request.person.slack_user_id,
            request.command.verb,
            incident,
            record_success=record_success,
        )
