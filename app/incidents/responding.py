"""Around the incident (issue 17): who is on call, my incidents, acknowledging them all,
paging responders, status updates and opening an incident. `page` and `update` act on one
incident like the core actions (registered through `actions`); the others act without
one and answer an `Answer` the intake tells. Every name is matched exactly (any case),
never "the first search hit", and every target is resolved before anything is written."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.blocks.around import mine_blocks, oncall_blocks, oncall_text
from app.blocks.card import CardState
from app.channel_routes import ChannelRoutes
from app.errors import NotAllowed, NothingToDo, NotMapped, UsageError
from app.identity import VerifiedUser
from app.incidents.actions import Action, ActionFamily, ActionTools, already
from app.incidents.grammar import ParsedCommand, Verb
from app.incidents.outcomes import Outcome, incident_link
from app.incidents.status_updates import StatusUpdates
from app.incidents.words import MENTION, POLICY_ID
from app.mrkdwn import escape
from app.pagerduty.errors import PagerDutyError, PagerDutyRejected
from app.pagerduty.models import EscalationPolicy, Incident, Service
from app.pagerduty.operations import BULK_LIMIT

logger = logging.getLogger(__name__)

MINE_SHOWN = 20
_MINE_READ = 1000  # enough to say "and 980 more"; beyond it the count says "at least"


@dataclass(frozen=True)
class Answer:
    """What a verb without an incident found or changed, for the intake to tell."""

    outcomes: tuple[Outcome, ...] = ()  # incidents changed: their cards are redrawn
    opened: Incident | None = None  # a new incident: its card goes in the asking channel
    public: tuple[str, ...] = ()
    private: tuple[str, ...] = ()
    blocks: tuple[dict[str, Any], ...] = ()  # to the person alone, with buttons


AroundAction = Callable[[VerifiedUser, ParsedCommand, str], Awaitable[Answer]]


def _one(kind: str, kinds: str, name: str, found: Sequence[tuple[str, str]]) -> str:
    """The id of the one `(id, label)` named `name`; otherwise a sentence saying why not."""
    distinct = dict(found)
    if len(distinct) == 1:
        return next(iter(distinct))
    if not distinct:
        raise UsageError(f"No {kind} is named “{escape(name)}”; nothing was done.")
    candidates = ", ".join(f"{escape(label)} (`{id}`)" for id, label in sorted(distinct.items()))
    raise UsageError(
        f"“{escape(name)}” names {len(distinct)} {kinds}: {candidates}. Give the id of the "
        "one you mean instead; nothing was done."
    )


class Responding(ActionFamily):
    def __init__(
        self, tools: ActionTools, routes: ChannelRoutes, status_updates: StatusUpdates
    ) -> None:
        super().__init__(tools)
        self._routes = routes
        self._status_updates = status_updates
        self._around: dict[Verb, AroundAction] = {
            Verb.ONCALL: self.oncall,
            Verb.MINE: self.mine,
            Verb.ACK_MINE: self.acknowledge_mine,
            Verb.TRIGGER: self.trigger,
        }

    @property
    def actions(self) -> dict[Verb, Action]:
        """The verbs on one incident, for `IncidentActions(extra=...)`."""
        return {Verb.PAGE: self.page, Verb.UPDATE: self.update}

    async def around(self, actor: VerifiedUser, command: ParsedCommand, channel: str) -> Answer:
        """A verb without an incident, asked in `channel`."""
        action = self._around.get(command.verb)
        if action is None:
            raise UsageError(f"`{command.verb}` needs an incident.")
        return await action(actor, command, channel)

    async def _authorize(
        self, actor: VerifiedUser, verb: Verb, urgency: str, number: int | None = None
    ) -> None:
        """Rules for a verb without an incident apply when they name no urgency (`urgency`
        ""), or the urgency of what is about to be opened or changed."""
        await self._policy.check(
            verb=verb,
            urgency=urgency,
            number=number,
            slack_user_id=actor.slack_user_id,
            groups=self._groups,
        )

    # --- on one incident ------------------------------------------------------------------

    async def page(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        user_ids, policy_ids, named = await self._page_targets(command.targets)
        async with self._locks.fresh(ref) as incident:
            await self._authorize(actor, Verb.PAGE, incident.urgency, incident.incident_number)
            if incident.status == "resolved":
                raise NothingToDo(f"{already(incident, 'resolved')}; nobody was paged.", incident)
            message = command.text or (
                f"Please join #{incident.incident_number} {incident.title}: {incident.html_url}"
            )
            await self._pagerduty.create_responder_request(
                incident.id,
                actor.email,
                actor.pagerduty.id,
                message,
                user_ids=user_ids,
                policy_ids=policy_ids,
            )
            incident = await self._pagerduty.get_incident(incident.id)  # with its responders
        return Outcome(actor, incident, Verb.PAGE, f" ({', '.join(named)})", command.text)

    async def _page_targets(self, targets: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """PagerDuty user ids, policy ids, and how each target is named in the channel
        (people mentioned: they must act)."""
        user_ids: list[str] = []
        policy_ids: list[str] = []
        named: list[str] = []
        for target in targets:
            if mention := MENTION.fullmatch(target):
                who = f"@{escape(mention.group(2))}" if mention.group(2) else f"<@{mention[1]}>"
                user = (await self._identity.resolve(mention.group(1), who=who)).pagerduty
                user_ids.append(user.id)
                named.append(f"<@{mention.group(1)}>")
            elif not target.startswith('"') and "@" in target:
                found = await self._pagerduty.find_user_by_email(target)
                if found is None:
                    raise NotMapped(
                        f"No PagerDuty user has the email {escape(target)}; nobody was paged."
                    )
                user_ids.append(found.id)
                named.append(escape(found.name))
            else:
                policy = await self._policy_named(target.strip('"'))
                policy_ids.append(policy.id)
                named.append(escape(policy.name or policy.summary))
        return list(dict.fromkeys(user_ids)), list(dict.fromkeys(policy_ids)), named

    async def update(
        self, actor: VerifiedUser, ref: str, command: ParsedCommand, seen: CardState | None
    ) -> Outcome:
        # Like a note, a status update changes no state, so it skips the incident's lock.
        incident = await self._locks.current(ref)
        await self._authorize(actor, Verb.UPDATE, incident.urgency, incident.incident_number)
        update = await self._pagerduty.create_status_update(incident.id, actor.email, command.text)
        await self._status_updates.record(incident.id, update)
        return Outcome(actor, incident, Verb.UPDATE, note=command.text)

    # --- without an incident --------------------------------------------------------------

    async def oncall(self, actor: VerifiedUser, command: ParsedCommand, channel: str) -> Answer:
        """Privately, with a Share button; `command.targets` (policy ids, from that
        button) posts the same answer in the channel."""
        await self._authorize(actor, Verb.ONCALL, "")
        if command.targets:
            policies = await asyncio.gather(
                *(self._pagerduty.get_escalation_policy(p) for p in command.targets)
            )
        elif command.target:
            policies = [await self._policy_or_service_policy(command.target)]
        else:
            policies = await self._routed_policies(channel)
        oncalls = await asyncio.gather(*(self._pagerduty.list_oncalls(p.id) for p in policies))
        shown = list(zip(policies, oncalls, strict=True))
        if command.targets:
            return Answer(
                public=(f"<@{actor.slack_user_id}> shared who is on call:\n{oncall_text(shown)}",)
            )
        return Answer(blocks=tuple(oncall_blocks(shown)), private=(oncall_text(shown),))

    async def _routed_policies(self, channel: str) -> list[EscalationPolicy]:
        service_ids = [s for s, routed in self._routes.services.items() if routed == channel]
        if not service_ids:
            raise UsageError(
                "No PagerDuty service is routed to this channel (CHANNEL_ROUTES_FILE), so say "
                "whose on-call to show: `/incident oncall <policy | service>`."
            )
        services = await asyncio.gather(*(self._pagerduty.get_service(s) for s in service_ids))
        policy_ids = dict.fromkeys(
            s.escalation_policy.id for s in services if s.escalation_policy is not None
        )
        return list(
            await asyncio.gather(*(self._pagerduty.get_escalation_policy(p) for p in policy_ids))
        )

    async def routed_services(self, channel: str) -> list[Service]:
        """The services CHANNEL_ROUTES_FILE routes anywhere, this channel's first."""
        ids = sorted(self._routes.services, key=lambda s: self._routes.services[s] != channel)
        found = await asyncio.gather(
            *(self._pagerduty.get_service(s) for s in ids), return_exceptions=True
        )
        # A route to a service PagerDuty no longer has must not keep the others off the list.
        return [s for s in found if isinstance(s, Service)]

    async def _policy_or_service_policy(self, name: str) -> EscalationPolicy:
        """A policy by id or name, or the policy of a service by id or name."""
        if POLICY_ID.fullmatch(name):
            try:
                return await self._pagerduty.get_escalation_policy(name)
            except PagerDutyRejected:
                pass
            try:
                service = await self._pagerduty.get_service(name)
            except PagerDutyRejected:
                raise UsageError(
                    f"No escalation policy or service has the id `{escape(name)}`; nothing was "
                    "done."
                ) from None
            return await self._policy_of(service)
        policies, services = await asyncio.gather(
            self._pagerduty.find_escalation_policies(name), self._pagerduty.find_services(name)
        )
        found = [(p.id, f"policy {p.name}") for p in policies]
        found += [
            (s.escalation_policy.id, f"service {s.name}")
            for s in services
            if s.escalation_policy is not None
        ]
        policy_id = _one(
            "escalation policy or service", "escalation policies or services", name, found
        )
        return await self._pagerduty.get_escalation_policy(policy_id)

    async def _policy_of(self, service: Service) -> EscalationPolicy:
        if service.escalation_policy is None:
            raise UsageError(f"{escape(service.name)} has no escalation policy; nobody is on call.")
        return await self._pagerduty.get_escalation_policy(service.escalation_policy.id)

    async def _policy_named(self, name: str) -> EscalationPolicy:
        if POLICY_ID.fullmatch(name):
            return await self._pagerduty.get_escalation_policy(name)
        found = await self._pagerduty.find_escalation_policies(name)
        policy_id = _one(
            "escalation policy", "escalation policies", name, [(p.id, p.name) for p in found]
        )
        return next(p for p in found if p.id == policy_id)

    async def mine(self, actor: VerifiedUser, command: ParsedCommand, channel: str) -> Answer:
        await self._authorize(actor, Verb.MINE, "")
        incidents = await self._pagerduty.list_incidents(
            user_ids=[actor.pagerduty.id],
            statuses=["triggered", "acknowledged"],
            at_most=_MINE_READ,
        )
        if not incidents:
            return Answer(
                private=("Nothing is assigned to you: no triggered or acknowledged incidents.",)
            )
        beyond = len(incidents) - MINE_SHOWN
        more = "at least " if len(incidents) >= _MINE_READ else ""
        blocks = mine_blocks(incidents[:MINE_SHOWN], f"{more}{beyond}" if beyond > 0 else "")
        return Answer(blocks=tuple(blocks), private=(f"Your open incidents: {len(incidents)}",))

    async def acknowledge_mine(
        self, actor: VerifiedUser, command: ParsedCommand, channel: str
    ) -> Answer:
        """Read first (only triggered ones are written, so nothing resolved re-opens), then
        one bulk PUT per 250; PagerDuty's answer says which were not acknowledged."""
        incidents = await self._pagerduty.list_incidents(
            user_ids=[actor.pagerduty.id], statuses=["triggered"], at_most=BULK_LIMIT
        )
        allowed, refusals = [], []
        for incident in incidents:
            try:
                for verb in (Verb.ACK_MINE, Verb.ACK):
                    await self._authorize(actor, verb, incident.urgency, incident.incident_number)
            except NotAllowed as refusal:  # say so, and acknowledge the others
                refusals.append(refusal)
                continue
            allowed.append(incident)
        if refusals and not allowed:
            raise refusals[0]
        if not allowed:
            raise NothingToDo(
                "Nothing to acknowledge: no triggered incident is assigned to you; nothing "
                "was changed."
            )
        refused = [refusal.message for refusal in refusals]
        result = await self._pagerduty.update_incidents(
            actor.email, {i.id: {"status": "acknowledged"} for i in allowed}
        )
        outcomes = tuple(Outcome(actor, i, Verb.ACK) for i in result.updated)
        for outcome in outcomes:
            await self._recent.record(outcome)
        private = list(refused)
        if result.failed_ids:
            by_id = {i.id: i for i in allowed}
            failed = ", ".join(incident_link(by_id[i]) for i in result.failed_ids if i in by_id)
            private.append(
                f"PagerDuty did not acknowledge {failed}; check them in PagerDuty "
                "(they may have been resolved or reassigned meanwhile)."
            )
        public: tuple[str, ...] = ()
        if outcomes:
            numbers = ", ".join(incident_link(o.incident) for o in outcomes)
            public = (
                f"<@{actor.slack_user_id}> acknowledged {len(outcomes)} of their "
                f"incident(s): {numbers}.",
            )
        if len(incidents) == BULK_LIMIT:
            private.append(f"I acknowledged at most {BULK_LIMIT}; run `ack mine` again for more.")
        return Answer(outcomes=outcomes, public=public, private=tuple(private))

    async def trigger(self, actor: VerifiedUser, command: ParsedCommand, channel: str) -> Answer:
        service = await self._service_named(command.target)
        if service.disabled:
            raise UsageError(
                f"{escape(service.name)} is disabled in PagerDuty, so it cannot open incidents; "
                "nothing was opened."
            )
        urgency = command.new_urgency or "high"
        await self._authorize(actor, Verb.TRIGGER, urgency)
        try:
            incident = await self._pagerduty.create_incident(
                actor.email,
                command.text,
                service.id,
                urgency="low" if command.new_urgency == "low" else None,
                incident_key=command.incident_key or None,
            )
        except PagerDutyRejected as error:
            if command.incident_key and "dedup" in error.detail.lower():
                raise NothingToDo(
                    "An incident about this message is already open on "
                    f"{escape(service.name)}; nothing new was opened."
                ) from None
            raise
        private: tuple[str, ...] = ()
        if command.source_link:
            try:
                await self._pagerduty.add_note(
                    incident.id, actor.email, f"Opened from Slack: {command.source_link}"
                )
            except PagerDutyError as error:
                private = (
                    f"The incident is open, but the message link was not added: {error.message}",
                )
        outcome = Outcome(actor, incident, Verb.TRIGGER, f" on {escape(service.name)}")
        await self._recent.record(outcome)
        return Answer(opened=incident, public=(outcome.announcement,), private=private)

    async def _service_named(self, name: str) -> Service:
        if POLICY_ID.fullmatch(name):
            return await self._pagerduty.get_service(name)
        found = await self._pagerduty.find_services(name)
        service_id = _one("service", "services", name, [(s.id, s.name) for s in found])
        return next(s for s in found if s.id == service_id)
