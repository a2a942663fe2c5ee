"""The rest of PagerDuty's update service, from Slack: priority, urgency, title, conference
bridge, snooze and merge. Like the core actions, each reads the incident fresh under its
lock, checks the policy on that read, writes only when the write changes something, and
returns an `Outcome` to be told. Reassigning to an escalation policy extends the core
`reassign` (app.incidents.actions)."""

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from cachetools import TTLCache

from app.blocks.card import CardState
from app.blocks.parts import slack_date
from app.errors import NothingToDo, UsageError
from app.identity import VerifiedUser
from app.incidents.actions import Action, ActionFamily, ActionTools, already
from app.incidents.grammar import ParsedCommand, Verb
from app.incidents.outcomes import Outcome
from app.mrkdwn import escape, link
from app.pagerduty.models import EscalationPolicy, Incident, Priority

# The account's priorities change a few times a year; a minute's cache spares a read per
# click without showing a renamed priority for long.
PRIORITIES_CACHE_SECONDS = 60
# Two snoozes that end within this of each other are the same snooze (a double submit).
SAME_SNOOZE = timedelta(minutes=1)


class IncidentUpdates(ActionFamily):
    def __init__(self, tools: ActionTools) -> None:
        super().__init__(tools)
        self._priorities: TTLCache[str, list[Priority]] = TTLCache(
            maxsize=1, ttl=PRIORITIES_CACHE_SECONDS
        )

    @property
    def actions(self) -> Mapping[Verb, Action]:
        return {
            Verb.PRIORITY: self.set_priority,
            Verb.URGENCY: self.set_urgency,
            Verb.TITLE: self.rename,
            Verb.BRIDGE: self.set_bridge,
            Verb.SNOOZE: self.snooze,
            Verb.MERGE: self.merge,
        }

    async def priorities(self) -> list[Priority]:
        """The account's priorities, most severe first (`PrioritiesDisabled` when off)."""
        if (cached := self._priorities.get("all")) is not None:
            return cached
        self._priorities["all"] = found = await self._pagerduty.list_priorities()
        return found

    async def incident(self, incident_id: str) -> Incident:
        return await self._pagerduty.get_incident(incident_id)

    async def policies_matching(self, query: str) -> list[EscalationPolicy]:
        return await self._pagerduty.search_escalation_policies(query)

    async def set_priority(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        priorities = await self.priorities()
        wanted = command.text.casefold()
        chosen = next((p for p in priorities if p.name.casefold() == wanted), None)
        if chosen is None:
            chosen = next((p for p in priorities if p.id == command.text), None)
        if chosen is None:
            names = ", ".join(f"`{escape(p.name)}`" for p in priorities)
            raise UsageError(
                f"`{escape(command.text)}` is not a priority of this PagerDuty account; "
                f"choose one of {names}. Nothing was changed."
            )
        async with self._changing(actor, Verb.PRIORITY, ref) as incident:
            if incident.priority is not None and incident.priority.id == chosen.id:
                raise NothingToDo(
                    f"#{incident.incident_number} is already {escape(chosen.name)}; "
                    "nothing was changed.",
                    incident,
                )
            incident = await self._pagerduty.set_priority(incident.id, actor.email, chosen)
        return Outcome(actor, incident, Verb.PRIORITY, f" to {escape(chosen.name)}")

    async def set_urgency(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        async with self._changing(actor, Verb.URGENCY, ref) as incident:
            if incident.urgency == command.text:
                raise NothingToDo(
                    f"#{incident.incident_number} is already {command.text} urgency; "
                    "nothing was changed.",
                    incident,
                )
            incident = await self._pagerduty.update_incident(
                incident.id, actor.email, urgency=command.text
            )
        return Outcome(actor, incident, Verb.URGENCY, f" to {command.text}")

    async def rename(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        async with self._changing(actor, Verb.TITLE, ref) as incident:
            before = incident.title
            if before == command.text:
                raise NothingToDo(
                    f"#{incident.incident_number} already has that title; nothing was changed.",
                    incident,
                )
            incident = await self._pagerduty.update_incident(
                incident.id, actor.email, title=command.text
            )
        return Outcome(actor, incident, Verb.TITLE, f" (was “{escape(before)}”)")

    async def set_bridge(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        url, number = command.text, command.dial_in or None
        async with self._changing(actor, Verb.BRIDGE, ref) as incident:
            bridge = incident.conference_bridge
            if bridge is not None and (bridge.conference_url, bridge.conference_number) == (
                url,
                number,
            ):
                raise NothingToDo(
                    f"#{incident.incident_number} already has that conference bridge; "
                    "nothing was changed.",
                    incident,
                )
            incident = await self._pagerduty.set_conference_bridge(
                incident.id, actor.email, url, number
            )
        dial_in = f" (dial-in {escape(number)})" if number else ""
        return Outcome(actor, incident, Verb.BRIDGE, f" to {link(escape(url), url)}{dial_in}")

    async def snooze(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        seconds = command.seconds
        if seconds is None:
            raise UsageError("Say for how long: `/incident snooze 123 2h`.")
        acknowledged_first = False
        async with self._changing(actor, Verb.SNOOZE, ref) as incident:
            until = datetime.now(UTC) + timedelta(seconds=seconds)
            current = incident.snoozed_until
            if current is not None and abs(current - until) < SAME_SNOOZE:
                raise NothingToDo(
                    f"#{incident.incident_number} is already snoozed until "
                    f"{slack_date(current, '{time}')}; nothing was changed.",
                    incident,
                )
            if incident.status == "triggered":
                # PagerDuty snoozes only an acknowledged incident: acknowledge it first, as
                # the same person, and say so.
                await self._pagerduty.update_incident(
                    incident.id, actor.email, status="acknowledged"
                )
                acknowledged_first = True
            incident = await self._pagerduty.snooze(incident.id, actor.email, seconds)
        ends = incident.snoozed_until or until
        detail = f" until {slack_date(ends, '{date_short_pretty} at {time}')}"
        if acknowledged_first:
            detail += " (it was triggered, so it was acknowledged first)"
        private = (
            (f"#{incident.incident_number} was triggered, so I acknowledged it as you first.",)
            if acknowledged_first
            else ()
        )
        return Outcome(actor, incident, Verb.SNOOZE, detail, private=private)

    async def merge(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        """`command.sources` into `ref`: every incident is read (and the policy checked on
        each) before anything is merged, so one bad source merges nothing."""
        if not command.sources:
            raise UsageError("Say what to merge: `/incident merge 124 125 into 123`.")
        async with self._locks.fresh(ref) as target:
            sources = await asyncio.gather(
                *(self._pagerduty.get_incident(source) for source in command.sources)
            )
            number = target.incident_number
            for incident in (target, *sources):
                await self._authorize(actor, Verb.MERGE, incident)
            if target.status == "resolved":
                raise NothingToDo(
                    f"{already(target, 'resolved')}; PagerDuty merges only into an open "
                    "incident, so nothing was merged.",
                    target,
                )
            if any(source.id == target.id for source in sources):
                raise UsageError(f"#{number} cannot be merged into itself; nothing was merged.")
            if resolved := [s for s in sources if s.status == "resolved"]:
                raise NothingToDo(
                    f"{already(resolved[0], 'resolved')} (or already merged), so nothing was "
                    "merged."
                )
            unique = list({source.id: source for source in sources}.values())
            await self._pagerduty.merge(target.id, [s.id for s in unique], actor.email)
            target = await self._pagerduty.get_incident(target.id)
        names = ", ".join(f"#{s.incident_number} {escape(s.title)}" for s in unique)
        return Outcome(actor, target, Verb.MERGE, f": {names}", merged=tuple(unique))

    # --- the common steps --------------------------------------------------------------

    @asynccontextmanager
    async def _changing(self, actor: VerifiedUser, verb: Verb, ref: str) -> AsyncIterator[Incident]:
        """The incident read fresh under its lock, the policy checked on that read, and a
        resolved incident refused (none of these verbs applies to one)."""
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, verb, incident)
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{already(incident, 'resolved')}; a resolved incident cannot be "
                    f"{_CANNOT[verb]}, so nothing was changed.",
                    incident,
                )
            yield incident

    async def _authorize(self, actor: VerifiedUser, verb: Verb, incident: Incident) -> None:
        await self._policy.check(
            verb=verb,
            urgency=incident.urgency,
            number=incident.incident_number,
            slack_user_id=actor.slack_user_id,
            groups=self._groups,
        )


_CANNOT = {
    Verb.PRIORITY: "given a priority",
    Verb.URGENCY: "given another urgency",
    Verb.TITLE: "renamed",
    Verb.BRIDGE: "given a conference bridge",
    Verb.SNOOZE: "snoozed",
}
