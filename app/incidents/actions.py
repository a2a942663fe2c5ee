"""The actions on an incident. Each reads the incident fresh (under its lock, see
`locks`), checks the policy against that read, and writes only when the write changes what
the person meant to change, so a stale or doubled request never acts twice and never
re-opens a resolved incident. No Slack here: each returns an `Outcome` to be told."""

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from app.blocks.card import CardState
from app.errors import NeedsLevel, NothingToDo, NotMapped, UsageError
from app.identity import IdentityResolver, VerifiedUser
from app.incidents.escalation import Escalation, FreshPolicies, escalation_of
from app.incidents.grammar import ParsedCommand, Verb
from app.incidents.locks import IncidentLocks
from app.incidents.outcomes import Outcome, RecentActions, ago
from app.incidents.words import INCIDENT_ID as POLICY_ID
from app.incidents.words import MENTION, SLACK_USER_ID
from app.mrkdwn import escape
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import PagerDutyError, PagerDutyRejected
from app.pagerduty.models import EscalationPolicy, Incident, User
from app.policy import GroupDirectory, Policy

logger = logging.getLogger(__name__)

Action = Callable[[VerifiedUser, str, ParsedCommand, CardState | None], Awaitable[Outcome]]


def already(incident: Incident, what: str) -> str:
    """'#123 is already resolved by Bob Builder 5 min ago'."""
    by = incident.last_status_change_by
    who = f" by {escape(by.summary)}" if by and by.summary else ""
    return (
        f"#{incident.incident_number} is already {what}{who}{ago(incident.last_status_change_at)}"
    )


def _unless_resolved(incident: Incident) -> None:
    if incident.status == "resolved":
        raise NothingToDo(f"{already(incident, 'resolved')}; nothing was changed.", incident)


@dataclass(frozen=True)
class ActionTools:
    """What every family of actions works with: PagerDuty, the incident's lock and fresh
    read, who people are, the policy file (and the Slack groups its rules name), and what
    the bot has just done."""

    pagerduty: PagerDutyClient
    locks: IncidentLocks
    identity: IdentityResolver
    policy: Policy
    groups: GroupDirectory
    recent: RecentActions


class ActionFamily:
    """A family of verbs' actions (core, updates, responding), each on the same tools."""

    def __init__(self, tools: ActionTools) -> None:
        self._pagerduty = tools.pagerduty
        self._locks = tools.locks
        self._identity = tools.identity
        self._policy = tools.policy
        self._groups = tools.groups
        self._recent = tools.recent


class IncidentActions(ActionFamily):
    def __init__(self, tools: ActionTools, extra: Iterable[Mapping[Verb, Action]] = ()) -> None:
        super().__init__(tools)
        self._actions: dict[Verb, Action] = {
            Verb.SHOW: self.show,
            Verb.ACK: self.acknowledge,
            Verb.RESOLVE: self.resolve,
            Verb.ESCALATE: self.escalate,
            Verb.REASSIGN: self.reassign,
            Verb.NOTE: self.add_note,
        }
        for actions in extra:
            self._actions.update(actions)

    async def perform(
        self, actor: VerifiedUser, command: ParsedCommand, ref: str, seen: CardState | None
    ) -> Outcome:
        """`command.verb` on incident `ref`; `seen` is what the clicked card showed."""
        action = self._actions.get(command.verb)
        if action is None:
            raise UsageError(f"`{command.verb}` does not act on an incident.")
        outcome = await action(actor, ref, command, seen)
        logger.info(
            "action done", extra={"verb": str(outcome.verb), "incident": outcome.incident.id}
        )
        if outcome.verb is not Verb.SHOW:
            await self._recent.record(outcome)
        return outcome

    async def _authorize(self, actor: VerifiedUser, verb: Verb, incident: Incident) -> None:
        """POLICY_FILE rules depend on the incident's urgency, so they are checked on the
        fresh read, before any write."""
        await self._policy.check(
            verb=verb,
            urgency=incident.urgency,
            number=incident.incident_number,
            slack_user_id=actor.slack_user_id,
            groups=self._groups,
        )

    async def _moved_on(self, incident: Incident, what: str) -> NothingToDo:
        """A refusal that says who moved the incident on, when it went through us."""
        last = await self._recent.last(incident.id)
        since = f" ({escape(last.who)} {last.did}{ago(last.at)})" if last is not None else ""
        return NothingToDo(f"{what}{since}; nothing was changed.", incident=incident)

    async def preview_escalation(
        self, actor: VerifiedUser, incident_id: str
    ) -> tuple[Incident, Escalation]:
        incident = await self._pagerduty.get_incident(incident_id)
        await self._authorize(actor, Verb.ESCALATE, incident)
        return incident, await escalation_of(incident, FreshPolicies(self._pagerduty))

    async def show(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        incident = await self._locks.current(ref)
        await self._authorize(actor, Verb.SHOW, incident)
        return Outcome(actor, incident, Verb.SHOW)

    async def acknowledge(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.ACK, incident)
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{already(incident, 'resolved')}; acknowledging it would re-open it, "
                    "so nothing was changed.",
                    incident=incident,
                )
            if incident.status == "acknowledged":
                raise NothingToDo(
                    f"{already(incident, 'acknowledged')}; nothing was changed.", incident
                )
            await self._recent.about_to(incident.id, Verb.ACK)
            incident = await self._pagerduty.update_incident(
                incident.id, actor.email, status="acknowledged"
            )
        return Outcome(actor, incident, Verb.ACK)

    async def resolve(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.RESOLVE, incident)
            _unless_resolved(incident)
            changes: dict[str, str] = {"status": "resolved"}
            if command.text:
                changes["resolution"] = command.text
            await self._recent.about_to(incident.id, Verb.RESOLVE)
            incident = await self._pagerduty.update_incident(incident.id, actor.email, **changes)
        return Outcome(actor, incident, Verb.RESOLVE, note=command.text)

    async def escalate(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        level = command.level
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.ESCALATE, incident)
            number = incident.incident_number
            _unless_resolved(incident)
            where = await escalation_of(incident, FreshPolicies(self._pagerduty))
            if level is not None and level > where.levels:
                raise UsageError(
                    f"{where.policy_name} has {where.levels} level(s); there is no level {level}."
                )
            if seen is not None and seen.level is not None and where.current != seen.level:
                shown = f"level {where.current}" if where.current else "another level"
                raise await self._moved_on(incident, f"#{number} has moved on to {shown} since")
            if level is None:
                if where.current is None:
                    raise NeedsLevel(
                        f"I can't tell which level of {where.policy_name} #{number} is at (it "
                        "was reassigned by hand, or its assignees are not on call), so nothing "
                        f"was changed. Say which level: `/incident escalate {number} <level>`. "
                        f"On call now: {where.oncall_summary}"
                    )
                level = where.current + 1
                if level > where.levels:
                    raise NothingToDo(
                        f"#{number} is already at the last level ({where.levels}) of "
                        f"{where.policy_name}; nothing was changed.",
                        incident=incident,
                    )
            elif where.current == level:
                raise NothingToDo(
                    f"#{number} is already at level {level}; nothing was changed.", incident
                )
            await self._recent.about_to(incident.id, Verb.ESCALATE)
            incident = await self._pagerduty.update_incident(
                incident.id, actor.email, escalation_level=level
            )
        # The new assignees must act: they are mentioned, so Slack tells them.
        assignees = await self._identity.mentions_of(
            (a.assignee for a in incident.assignments), actor=actor
        )
        detail = f" to level {level}" + (f" ({assignees})" if assignees else "")
        private = await self._note_after_write(actor, incident, command.text)
        return Outcome(actor, incident, Verb.ESCALATE, detail, command.text, private)

    async def reassign(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        if command.policy:
            return await self._reassign_to_policy(actor, ref, command)
        assignee = await self._target_user(command.target)
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.REASSIGN, incident)
            _unless_resolved(incident)
            if incident.assignee_ids == {assignee.id}:
                raise NothingToDo(
                    f"#{incident.incident_number} is already assigned to "
                    f"{escape(assignee.name)}; nothing was changed.",
                    incident=incident,
                )
            await self._recent.about_to(incident.id, Verb.REASSIGN)
            incident = await self._pagerduty.update_incident(
                incident.id,
                actor.email,
                assignments=[{"assignee": {"id": assignee.id, "type": "user_reference"}}],
            )
        mine = assignee.id == actor.pagerduty.id
        target = escape(assignee.name) if mine else await self._identity.mention_of(assignee)
        return Outcome(actor, incident, Verb.REASSIGN, f" to {target}")

    async def _reassign_to_policy(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand
    ) -> Outcome:
        policy = await self._target_policy(command.policy)
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.REASSIGN, incident)
            _unless_resolved(incident)
            if incident.escalation_policy.id == policy.id:
                raise NothingToDo(
                    f"#{incident.incident_number} is already with {escape(policy.name)}; "
                    "nothing was changed.",
                    incident=incident,
                )
            incident = await self._pagerduty.reassign_to_policy(incident.id, actor.email, policy.id)
        # The policy's first level must act now: they are mentioned, so Slack tells them.
        assignees = await self._identity.mentions_of(
            (a.assignee for a in incident.assignments), actor=actor
        )
        detail = f" to {escape(policy.name)}" + (f" ({assignees})" if assignees else "")
        return Outcome(actor, incident, Verb.REASSIGN, detail)

    async def _target_policy(self, wanted: str) -> EscalationPolicy:
        """By id, else by exact name (any case); never PagerDuty's first loose hit."""
        if POLICY_ID.fullmatch(wanted):
            try:
                return await self._pagerduty.get_escalation_policy(wanted)
            except PagerDutyRejected:
                pass  # not an id after all: a name in capitals
        found = await self._pagerduty.find_escalation_policies(wanted)
        if not found:
            raise UsageError(
                f"`{escape(wanted)}` is neither a person nor an escalation policy: mention "
                "someone (`@alice`), give their email (`alice@example.com`), or name an "
                'escalation policy by its id or exact name (quoted: `"SRE primary"`). '
                "Nothing was changed."
            )
        if len(found) > 1:
            ids = ", ".join(f"`{escape(p.id)}`" for p in found)
            raise UsageError(
                f"{len(found)} escalation policies are named `{escape(wanted)}` ({ids}); say "
                "which by its id: `/incident reassign 123 <id>`. Nothing was changed."
            )
        return found[0]

    async def add_note(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        # A note changes no state and checks none, so it skips the incident's lock: in a
        # storm, notes must not queue behind each other's PagerDuty round trips.
        incident = await self._locks.current(ref)
        await self._authorize(actor, Verb.NOTE, incident)
        await self._recent.about_to(incident.id, Verb.NOTE)
        await self._pagerduty.add_note(incident.id, actor.email, command.text)
        return Outcome(actor, incident, Verb.NOTE, note=command.text)

    async def _note_after_write(
        self, actor: VerifiedUser, incident: Incident, note: str
    ) -> tuple[str, ...]:
        if not note:
            return ()
        try:
            await self._pagerduty.add_note(incident.id, actor.email, note)
        except PagerDutyError as error:
            return (f"The escalation stands, but the note was not added: {error.message}",)
        return ()

    async def _target_user(self, target: str) -> User:
        """`target` is a mention (`<@U…>`), a Slack user id or an email."""
        mention = MENTION.fullmatch(target)
        if mention or SLACK_USER_ID.fullmatch(target):
            user_id = mention.group(1) if mention else target
            label = mention.group(2) if mention else None
            who = f"@{escape(label)}" if label else f"<@{user_id}>"
            return (await self._identity.resolve(user_id, who=who)).pagerduty
        user = await self._pagerduty.find_user_by_email(target)
        if user is None:
            raise NotMapped(
                f"No PagerDuty user has the email {escape(target)}; nothing was changed."
            )
        return user
