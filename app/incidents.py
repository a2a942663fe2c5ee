"""The use cases: understand what a person asked for and do it to a PagerDuty incident.

This is the only module that knows both Slack words (mentions, mrkdwn) and PagerDuty
words (incidents, levels). Every action reads the incident fresh, under a per-incident
lock, and writes only when the write changes what the person meant to change, so a
stale or doubled request never acts twice and never re-opens a resolved incident.
"""

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from app.blocks import CardState, LastAction, gone_card, incident_card
from app.cards import Cards, slack_error_reason
from app.errors import (
    SLACK_FAILURES,
    BotError,
    Busy,
    NeedsLevel,
    NotAllowed,
    NothingToDo,
    NotMapped,
    SlackUnavailable,
    UsageError,
)
from app.identity import IdentityResolver, VerifiedUser
from app.ids import CARD_METADATA_EVENT
from app.metrics import ACTIONS, UNMAPPED_REFUSALS
from app.mrkdwn import escape, link
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import IncidentNotFound, PagerDutyError
from app.pagerduty.models import Incident, OnCall, User
from app.policy import GroupDirectory, Policy
from app.single_flight import SingleFlight
from app.store import AuditEntry, CardRef, Store, StoreUnavailable

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# Long enough for any resolution or hand-over note, short enough to echo in one Slack
# section (3,000 chars) with room for who/what, and far under PagerDuty's limits.
MAX_TEXT_CHARS = 2000
MAX_REFS_PER_ACK = 20
# How long an action waits for another replica's action on the same incident.
LOCK_WAIT = timedelta(seconds=30)


class Verb(StrEnum):
    HELP = "help"
    WHOAMI = "whoami"
    SHOW = "show"
    ACK = "ack"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    NOTE = "note"


_ALIASES = {"acknowledge": Verb.ACK}
_NO_REF_NEEDED = {Verb.HELP, Verb.WHOAMI}

USAGE = escape("""\
*Act on PagerDuty incidents as yourself*
`/incident ack <ref> [<ref> ...]` acknowledge (alias: `acknowledge`)
`/incident resolve <ref> [note ...]` resolve; the note becomes the resolution
`/incident escalate <ref> [level] [note ...]` escalate (default: the next level)
`/incident reassign <ref> <@user | email>` reassign to that person
`/incident note <ref> <text ...>` add a note
`/incident show <ref>` post the incident's card, with buttons, in this channel
`/incident whoami` which PagerDuty user you act as
`<ref>` is `123`, `#123`, an incident id like `PT4KHLK`, or its PagerDuty link.""")

MENTION_USAGE = escape("""\
*Mention me in an incident card's thread* (no incident number needed):
`@incident-bot ack` · `resolve [note]` · `escalate [level] [note]` · `reassign @user`
· `note <text>` · `whoami` · `help`
Anywhere else, name the incident: `@incident-bot escalate 123`.""")

_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")
_INCIDENT_ID = re.compile(r"[A-Z0-9]{6,20}")
_INCIDENT_URL = re.compile(
    r"https://[a-z0-9-]+\.(?:eu\.)?pagerduty\.com/incidents/([A-Z0-9]{6,20})/?", re.IGNORECASE
)
_LEVEL_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)(?:\|[^>]*)?>")


# --- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCommand:
    verb: Verb
    refs: tuple[str, ...] = ()
    level: int | None = None
    text: str = ""
    target: str = ""


def parse_ref(token: str) -> str:
    """An incident number (as digits) or id, from any accepted spelling."""
    link = _SLACK_LINK.fullmatch(token)
    candidate = link.group(1) if link else token
    if number := _NUMBER.fullmatch(candidate):
        return number.group(1)
    if _INCIDENT_ID.fullmatch(candidate):
        return candidate
    if url := _INCIDENT_URL.fullmatch(candidate):
        return url.group(1).upper()
    if candidate.startswith(("http://", "https://")):
        raise UsageError(
            f"`{escape(candidate)}` is not a PagerDuty incident link; expected "
            "https://<your-subdomain>.pagerduty.com/incidents/<id>."
        )
    raise UsageError(
        f"`{escape(candidate)}` is not an incident: use its number (`123` or `#123`), "
        "its id (`PT4KHLK`) or its PagerDuty link."
    )


def _parse_level(token: str) -> int:
    if not re.fullmatch(r"[0-9]+", token) or int(token) < 1:
        raise UsageError(
            f"`{escape(token)}` is not an escalation level: use a whole number from 1 "
            "(levels count from 1, as in PagerDuty)."
        )
    return int(token)


def _rest(words: list[str], start: int) -> str:
    return " ".join(words[start:]).strip()


def _checked_text(text: str, what: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise UsageError(
            f"The {what} is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}. "
            "Shorten it, or add the details as several notes."
        )
    return text


def parse_command(text: str) -> ParsedCommand:
    """Raise `UsageError` naming what is wrong; nothing is sent to PagerDuty then."""
    words = text.split()
    if not words:
        raise UsageError("Tell me what to do.\n" + USAGE)
    word = words[0].lower()
    try:
        verb = _ALIASES.get(word) or Verb(word)
    except ValueError:
        raise UsageError(f"I don't know `{escape(words[0])}`.\n" + USAGE) from None
    if verb in (Verb.HELP, Verb.WHOAMI):
        return ParsedCommand(verb)
    if len(words) < 2:
        raise UsageError(f"`{verb}` needs an incident: `/incident {verb} 123`.\n" + USAGE)

    if verb is Verb.ACK:
        if len(words) - 1 > MAX_REFS_PER_ACK:
            raise UsageError(f"Acknowledge at most {MAX_REFS_PER_ACK} incidents at once.")
        refs = tuple(dict.fromkeys(parse_ref(w) for w in words[1:]))
        return ParsedCommand(verb, refs=refs)

    ref = parse_ref(words[1])
    if verb is Verb.SHOW:
        return ParsedCommand(verb, (ref,))
    if verb is Verb.RESOLVE:
        return ParsedCommand(verb, (ref,), text=_checked_text(_rest(words, 2), "resolution note"))
    if verb is Verb.ESCALATE:
        level, note_start = None, 2
        if len(words) > 2 and words[2].lower().startswith("level"):
            value = words[2][len("level") :].lstrip("=:")
            if not value:
                if len(words) < 4:
                    raise UsageError("Say which level: `/incident escalate 123 level 2`.")
                value, note_start = words[3], 4
            else:
                note_start = 3
            level = _parse_level(value)
        elif len(words) > 2 and _LEVEL_LIKE.fullmatch(words[2]):
            level, note_start = _parse_level(words[2]), 3
        note = _checked_text(_rest(words, note_start), "note")
        return ParsedCommand(verb, (ref,), level=level, text=note)
    if verb is Verb.REASSIGN:
        if len(words) != 3:
            raise UsageError("Say who: `/incident reassign 123 @alice` or `... alice@example.com`.")
        target = words[2]
        if not (_MENTION.fullmatch(target) or _EMAIL.fullmatch(target)):
            raise UsageError(
                f"`{escape(target)}` is not a person: mention them (`@alice`) or give their email."
            )
        return ParsedCommand(verb, (ref,), target=target)
    # Verb.NOTE
    note = _checked_text(_rest(words, 2), "note")
    if not note:
        raise UsageError("The note is empty: `/incident note 123 restarted the db`.")
    return ParsedCommand(verb, (ref,), text=note)


# --- acting ----------------------------------------------------------------------------


@dataclass
class Reply:
    """What to tell Slack: `public` lines go to the channel, `private` to the person."""

    public: list[str] = field(default_factory=list)
    private: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """A change PagerDuty accepted, and how to say it."""

    actor: VerifiedUser
    incident: Incident  # as PagerDuty answered the write
    verb: str  # "acknowledged", "escalated"
    detail: str = ""  # mrkdwn-safe, e.g. " to level 2 (Bob Builder)"
    note: str = ""  # as typed; escaped when shown
    private: tuple[str, ...] = ()

    @property
    def announcement(self) -> str:
        """'@alice resolved #123 db down: fixed db' for the channel."""
        said = f": {escape(self.note)}" if self.note else "."
        return (
            f"<@{self.actor.slack_user_id}> {self.verb} {incident_link(self.incident)}"
            f"{self.detail}{said}"
        )

    @property
    def thread_line(self) -> str:
        """'@alice resolved: fixed db' under the card, whose incident needs no naming."""
        said = f": {escape(self.note)}" if self.note else ""
        return f"<@{self.actor.slack_user_id}> {self.verb}{self.detail}{said}"

    @property
    def last_action(self) -> LastAction:
        return LastAction(self.actor.slack_user_id, f"{self.verb}{self.detail}", datetime.now(UTC))


def incident_link(incident: Incident) -> str:
    return link(incident.html_url, f"#{incident.incident_number} {incident.title}")


def _ago(when: datetime | None) -> str:
    if when is None:
        return ""
    seconds = max(0, int((datetime.now(UTC) - when).total_seconds()))
    if seconds < 60:
        return f" {seconds} s ago"
    if seconds < 3600:
        return f" {seconds // 60} min ago"
    return f" {seconds // 3600} h ago"


def _already(incident: Incident, what: str) -> str:
    """'#123 is already resolved by Bob Builder 5 min ago'."""
    by = incident.last_status_change_by
    who = f" by {escape(by.summary)}" if by and by.summary else ""
    return (
        f"#{incident.incident_number} is already {what}{who}{_ago(incident.last_status_change_at)}"
    )


def parse_card_state(value: str) -> CardState:
    try:
        return CardState.from_value(value)
    except ValueError:
        raise UsageError(
            "This card is too old to act on. Post a fresh one with `/incident show <number>`."
        ) from None


@dataclass(frozen=True)
class Escalation:
    """Where an incident stands on its policy: `current` is None when it cannot be told."""

    policy_name: str
    levels: int
    current: int | None
    oncall_summary: str


class IncidentActions:
    """What a person can do to an incident, each as one read-then-maybe-write under a
    per-incident lock: the second of two simultaneous clicks reads the first one's result."""

    def __init__(
        self,
        pagerduty: PagerDutyClient,
        identity: IdentityResolver,
        cards: Cards,
        store: Store,
        policy: Policy,
        groups: GroupDirectory,
    ) -> None:
        self.pagerduty = pagerduty
        self.identity = identity
        self.cards = cards
        self.store = store
        self.policy = policy
        self.groups = groups
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._ids_by_number: OrderedDict[str, str] = OrderedDict()
        self._id_lookups: SingleFlight[str, str] = SingleFlight()
        self._last_actions: OrderedDict[str, LastAction] = OrderedDict()

    @asynccontextmanager
    async def fresh(self, ref: str) -> AsyncIterator[Incident]:
        """The incident as PagerDuty has it now, while no other action of ours on it runs:
        an asyncio lock within this process, the store's lock across replicas."""
        incident_id = await self._incident_id(ref)
        lock, users = self._locks.get(incident_id, (asyncio.Lock(), 0))
        self._locks[incident_id] = (lock, users + 1)
        try:
            async with lock, self._across_replicas(incident_id):
                yield await self.pagerduty.get_incident(incident_id)
        finally:
            lock, users = self._locks[incident_id]
            if users == 1:
                del self._locks[incident_id]
            else:
                self._locks[incident_id] = (lock, users - 1)

    async def _incident_id(self, ref: str) -> str:
        """Writes need the id; an incident's number never changes, so remember it."""
        if not ref.isdigit():
            return ref
        known = self._ids_by_number.get(ref)
        if known is None:
            known = await self._id_lookups.run(ref, lambda: self._look_up_id(ref))
        return known

    async def _look_up_id(self, ref: str) -> str:
        incident_id = (await self.pagerduty.get_incident(ref)).id
        _remember(self._ids_by_number, ref, incident_id)
        return incident_id

    @asynccontextmanager
    async def _across_replicas(self, incident_id: str) -> AsyncIterator[None]:
        try:
            async with self.store.exclusive(f"incident:{incident_id}", LOCK_WAIT):
                yield
        except TimeoutError:
            raise Busy(
                "Someone else's action on this incident is taking long; nothing was "
                "changed. Try again in a moment."
            ) from None

    def just_did(self, incident_id: str, verb: str, within: float = 120) -> bool:
        """Whether this process itself `verb`-ed the incident in the last `within` s (so a
        webhook about it repeats what the card's thread already says)."""
        last = self._last_actions.get(incident_id)
        recent = last is not None and (datetime.now(UTC) - last.at).total_seconds() < within
        return recent and last is not None and last.did.startswith(verb)

    def _moved_on(self, incident: Incident, what: str) -> NothingToDo:
        """A refusal that says who moved the incident on, when it went through us."""
        last = self._last_actions.get(incident.id)
        since = f" (<@{last.slack_user_id}> {last.did}{_ago(last.at)})" if last is not None else ""
        return NothingToDo(f"{what}{since}; nothing was changed.", incident=incident)

    async def _authorize(self, actor: VerifiedUser, verb: Verb, incident: Incident) -> None:
        await self.policy.check(
            verb=str(verb),
            urgency=incident.urgency,
            number=incident.incident_number,
            slack_user_id=actor.slack_user_id,
            groups=self.groups,
        )

    # --- the actions -------------------------------------------------------------------

    async def acknowledge(self, actor: VerifiedUser, ref: str) -> Outcome:
        async with self.fresh(ref) as incident:
            await self._authorize(actor, Verb.ACK, incident)
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{_already(incident, 'resolved')}; acknowledging it would re-open it, "
                    "so nothing was changed.",
                    incident=incident,
                )
            if incident.status == "acknowledged":
                raise NothingToDo(
                    f"{_already(incident, 'acknowledged')}; nothing was changed.",
                    incident=incident,
                )
            incident = await self.pagerduty.update_incident(
                incident.id, actor.email, status="acknowledged"
            )
        return self._done(Outcome(actor, incident, "acknowledged"))

    async def resolve(self, actor: VerifiedUser, ref: str, resolution: str) -> Outcome:
        async with self.fresh(ref) as incident:
            await self._authorize(actor, Verb.RESOLVE, incident)
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{_already(incident, 'resolved')}; nothing was changed.", incident=incident
                )
            changes: dict[str, str] = {"status": "resolved"}
            if resolution:
                changes["resolution"] = resolution
            incident = await self.pagerduty.update_incident(incident.id, actor.email, **changes)
        return self._done(Outcome(actor, incident, "resolved", note=resolution))

    async def escalation(self, incident: Incident) -> Escalation:
        """Derive the current level from who is assigned and who is on call at each level
        (PagerDuty's incident does not say); None when that is not one level."""
        policy = await self.pagerduty.get_escalation_policy(incident.escalation_policy.id)
        oncalls = await self.pagerduty.list_oncalls(policy.id)
        levels = {o.escalation_level for o in oncalls if o.user.id in incident.assignee_ids}
        count = len(policy.escalation_rules)
        return Escalation(
            policy_name=escape(policy.name or policy.summary or policy.id),
            levels=count,
            current=levels.pop() if len(levels) == 1 else None,
            oncall_summary=_oncall_summary(oncalls, count),
        )

    async def escalate(
        self,
        actor: VerifiedUser,
        ref: str,
        level: int | None,
        note: str,
        seen: CardState | None = None,
    ) -> Outcome:
        async with self.fresh(ref) as incident:
            await self._authorize(actor, Verb.ESCALATE, incident)
            number = incident.incident_number
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{_already(incident, 'resolved')}; nothing was changed.", incident=incident
                )
            where = await self.escalation(incident)
            if level is not None and level > where.levels:
                raise UsageError(
                    f"{where.policy_name} has {where.levels} level(s); there is no level {level}."
                )
            if seen is not None and seen.level is not None and where.current != seen.level:
                shown = f"level {where.current}" if where.current else "another level"
                raise self._moved_on(incident, f"#{number} has moved on to {shown} since")
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
                    f"#{number} is already at level {level}; nothing was changed.",
                    incident=incident,
                )
            incident = await self.pagerduty.update_incident(
                incident.id, actor.email, escalation_level=level
            )
        assignees = ", ".join(escape(a.assignee.summary) for a in incident.assignments)
        detail = f" to level {level}" + (f" ({assignees})" if assignees else "")
        private = await self._note_after_write(actor, incident, note)
        return self._done(Outcome(actor, incident, "escalated", detail, note, private))

    async def reassign(
        self, actor: VerifiedUser, ref: str, target: str, slack: AsyncWebClient
    ) -> Outcome:
        """`target` is a mention (`<@U…>`), a Slack user id or an email."""
        assignee = await self._target_user(target, slack)
        async with self.fresh(ref) as incident:
            await self._authorize(actor, Verb.REASSIGN, incident)
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{_already(incident, 'resolved')}; nothing was changed.", incident=incident
                )
            if incident.assignee_ids == {assignee.id}:
                raise NothingToDo(
                    f"#{incident.incident_number} is already assigned to "
                    f"{escape(assignee.name)}; nothing was changed.",
                    incident=incident,
                )
            incident = await self.pagerduty.update_incident(
                incident.id,
                actor.email,
                assignments=[{"assignee": {"id": assignee.id, "type": "user_reference"}}],
            )
        return self._done(Outcome(actor, incident, "reassigned", f" to {escape(assignee.name)}"))

    async def add_note(self, actor: VerifiedUser, ref: str, text: str) -> Outcome:
        # A note changes no state and checks none, so it skips the incident's lock: in a
        # storm, notes must not queue behind each other's PagerDuty round trips.
        incident = await self.pagerduty.get_incident(await self._incident_id(ref))
        await self._authorize(actor, Verb.NOTE, incident)
        await self.pagerduty.add_note(incident.id, actor.email, text)
        return self._done(Outcome(actor, incident, "added a note to", note=text))

    def _done(self, outcome: Outcome) -> Outcome:
        logger.info(
            "action done",
            extra={"verb": outcome.verb, "incident": outcome.incident.id},
        )
        _remember(self._last_actions, outcome.incident.id, outcome.last_action)
        return outcome

    async def _note_after_write(
        self, actor: VerifiedUser, incident: Incident, note: str
    ) -> tuple[str, ...]:
        if not note:
            return ()
        try:
            await self.pagerduty.add_note(incident.id, actor.email, note)
        except PagerDutyError as error:
            return (f"The escalation stands, but the note was not added: {error.message}",)
        return ()

    async def _target_user(self, target: str, slack: AsyncWebClient) -> User:
        mention = _MENTION.fullmatch(target)
        if mention or _SLACK_USER_ID.fullmatch(target):
            user_id = mention.group(1) if mention else target
            label = mention.group(2) if mention else None
            who = f"@{escape(label)}" if label else f"<@{user_id}>"
            return (await self.identity.resolve(user_id, slack, who=who)).pagerduty
        user = await self.pagerduty.find_user_by_email(target)
        if user is None:
            raise NotMapped(
                f"No PagerDuty user has the email {escape(target)}; nothing was changed."
            )
        return user

    # --- the slash command -------------------------------------------------------------

    async def run_command(
        self,
        text: str,
        slack_user_id: str,
        channel_id: str,
        slack: AsyncWebClient,
        origin: CardRef | None = None,
    ) -> Reply:
        """Parse, identify, act. Raises `BotError` when nothing at all could be done."""
        command = parse_command(text)
        if command.verb is Verb.HELP:
            return Reply(private=[USAGE])
        if command.verb is not Verb.WHOAMI:
            self.policy.check_channel(channel_id)
        if command.verb is Verb.SHOW:
            return await self.show(command.refs[0], channel_id)
        if command.verb is Verb.WHOAMI:
            actor = await self.identity.resolve(slack_user_id, slack)
            return Reply(
                private=[
                    f"You act in PagerDuty as {escape(actor.pagerduty.name)} "
                    f"({escape(actor.email)}), matched by your {actor.source}."
                ]
            )
        if command.verb is Verb.ACK:
            return await self._acknowledge_all(slack_user_id, command.refs, origin, slack)
        ref = command.refs[0]
        async with self._attempt(slack_user_id, command.verb, ref):
            actor = await self.identity.resolve(slack_user_id, slack)
            if command.verb is Verb.RESOLVE:
                outcome = await self.resolve(actor, ref, command.text)
            elif command.verb is Verb.ESCALATE:
                outcome = await self.escalate(actor, ref, command.level, command.text)
            elif command.verb is Verb.REASSIGN:
                outcome = await self.reassign(actor, ref, command.target, slack)
            else:
                outcome = await self.add_note(actor, ref, command.text)
        await self._refresh_cards(outcome, origin)
        return Reply(public=[outcome.announcement], private=list(outcome.private))

    @asynccontextmanager
    async def _attempt(
        self, slack_user_id: str, verb: str, incident: str, *, record_success: bool = True
    ) -> AsyncIterator[None]:
        """The audit trail and metrics of one attempted action, whatever its outcome."""
        try:
            yield
        except BotError as error:
            await self._audit(slack_user_id, verb, incident, "refused", error)
            raise
        except Exception as error:
            await self._audit(slack_user_id, verb, incident, "failed", error)
            raise
        if record_success:
            await self._audit(slack_user_id, verb, incident, "done")

    async def _audit(
        self,
        slack_user_id: str,
        verb: str,
        incident: str,
        outcome: str,
        error: Exception | None = None,
    ) -> None:
        ACTIONS.labels(str(verb), outcome).inc()
        if isinstance(error, NotMapped):
            UNMAPPED_REFUSALS.inc()
        detail = type(error).__name__ if error else ""
        if isinstance(error, NotAllowed):
            detail += f" (rule {error.rule})" if error.rule else " (channels)"
        entry = AuditEntry(datetime.now(UTC), slack_user_id, str(verb), incident, outcome, detail)
        try:
            await self.store.record(entry)
        except StoreUnavailable:
            # The action itself stands or fell on its own; losing its audit line is logged.
            logger.error("audit entry not stored", extra={"audit": str(entry)})

    async def _acknowledge_all(
        self,
        slack_user_id: str,
        refs: tuple[str, ...],
        origin: CardRef | None,
        slack: AsyncWebClient,
    ) -> Reply:
        async with self._attempt(slack_user_id, Verb.ACK, " ".join(refs), record_success=False):
            actor = await self.identity.resolve(slack_user_id, slack)

        async def acknowledge_one(ref: str) -> Outcome:
            async with self._attempt(slack_user_id, Verb.ACK, ref):
                outcome = await self.acknowledge(actor, ref)
            await self._refresh_cards(outcome, origin)
            return outcome

        if len(refs) == 1:
            return Reply(public=[(await acknowledge_one(refs[0])).announcement])
        results = await asyncio.gather(*map(acknowledge_one, refs), return_exceptions=True)
        reply = Reply()
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, BotError):
                reply.private.append(f"{ref}: {result.message}")
            elif isinstance(result, BaseException):
                raise result
            else:
                reply.public.append(result.announcement)
        return reply

    # --- threads -----------------------------------------------------------------------

    async def incident_in_thread(
        self, channel: str, thread_ts: str, slack: AsyncWebClient
    ) -> str | None:
        """The incident whose card starts this thread, from our index or else the parent
        message's metadata; None when the parent is not a card."""
        known = await self.store.incident_for_card(channel, thread_ts)
        if known is not None:
            return known
        try:
            replies = await slack.conversations_replies(
                channel=channel, ts=thread_ts, limit=1, include_all_metadata=True
            )
        except SLACK_FAILURES as error:
            raise SlackUnavailable(
                f"I couldn't read this thread ({slack_error_reason(error)}), so nothing was "
                "changed."
            ) from None
        messages = replies.get("messages") or []
        metadata = (messages[0].get("metadata") or {}) if messages else {}
        payload = metadata.get("event_payload") or {}
        incident_id = payload.get("incident_id")
        if metadata.get("event_type") != CARD_METADATA_EVENT or not isinstance(incident_id, str):
            return None
        await self.store.save_card(incident_id, CardRef(channel, thread_ts))
        return incident_id

    async def run_mention(
        self,
        text: str,
        *,
        slack_user_id: str,
        channel: str,
        thread_ts: str | None,
        slack: AsyncWebClient,
    ) -> Reply:
        """`@incident-bot <verb> ...`: in a card's thread the incident is the card's."""
        words = text.split()
        if not words:
            return Reply(private=[MENTION_USAGE])
        incident_id = (
            await self.incident_in_thread(channel, thread_ts, slack) if thread_ts else None
        )
        if incident_id is not None and words[0].lower() not in _NO_REF_NEEDED:
            words.insert(1, incident_id)
        elif incident_id is None and len(words) < 2 and words[0].lower() not in _NO_REF_NEEDED:
            raise UsageError(
                f"This is not an incident card's thread, so name the incident.\n{MENTION_USAGE}"
            )
        if words[0].lower() == Verb.HELP:
            return Reply(private=[MENTION_USAGE])
        origin = CardRef(channel, thread_ts) if incident_id and thread_ts else None
        return await self.run_command(" ".join(words), slack_user_id, channel, slack, origin)

    async def add_message_to_notes(
        self,
        *,
        slack_user_id: str,
        channel: str,
        message: dict[str, Any],
        slack: AsyncWebClient,
    ) -> str:
        """The "Add to incident notes" shortcut: the message, its author and a permalink
        become a PagerDuty note written as the person who used the shortcut."""
        parent = str(message.get("thread_ts") or message.get("ts") or "")
        incident_id = await self.incident_in_thread(channel, parent, slack) if parent else None
        if incident_id is None:
            raise UsageError(
                "That message is not in an incident card's thread, so I don't know which "
                "incident to add it to. Use `/incident note <ref> <text>` instead."
            )
        async with self._attempt(slack_user_id, Verb.NOTE, incident_id):
            self.policy.check_channel(channel)
            actor = await self.identity.resolve(slack_user_id, slack)
            text = str(message.get("text") or "").strip()
            if not text:
                raise UsageError("That message has no text to add.")
            author = await self._display_name(str(message.get("user") or ""), slack)
            permalink = await self._permalink(channel, str(message.get("ts") or ""), slack)
            note = f"{text}\n— {author} in Slack" + (f": {permalink}" if permalink else "")
            outcome = await self.add_note(actor, incident_id, _checked_text(note, "message"))
        return f"Added to the notes of {incident_link(outcome.incident)}."

    async def _display_name(self, user_id: str, slack: AsyncWebClient) -> str:
        if not user_id:
            return "someone"
        try:
            user = (await slack.users_info(user=user_id)).get("user") or {}
        except SLACK_FAILURES:
            return user_id
        profile = user.get("profile") or {}
        return str(profile.get("real_name") or user.get("real_name") or user.get("name") or user_id)

    async def _permalink(self, channel: str, ts: str, slack: AsyncWebClient) -> str:
        try:
            return str((await slack.chat_getPermalink(channel=channel, message_ts=ts))["permalink"])
        except (*SLACK_FAILURES, KeyError):
            return ""

    async def escalate_from_thread(
        self,
        *,
        slack_user_id: str,
        channel: str,
        incident_id: str,
        level: int | None,
        note: str,
        slack: AsyncWebClient,
    ) -> list[str]:
        """The escalate shortcut's modal: the card and its thread say what happened."""
        async with self._attempt(slack_user_id, Verb.ESCALATE, incident_id):
            self.policy.check_channel(channel)
            actor = await self.identity.resolve(slack_user_id, slack)
            outcome = await self.escalate(actor, incident_id, level, note)
        await self._refresh_cards(outcome)
        return list(outcome.private)

    async def escalation_preview(self, incident_id: str) -> tuple[str, int | None]:
        """What the escalate modal shows: the incident and its next level (None if unknown
        or already at the last level)."""
        incident = await self.pagerduty.get_incident(incident_id)
        where = await self.escalation(incident)
        now = f"level {where.current} of {where.levels}" if where.current else "an unknown level"
        about = f"{incident_link(incident)} is at {now} of {where.policy_name}."
        following = where.current + 1 if where.current and where.current < where.levels else None
        return about, following

    # --- cards -------------------------------------------------------------------------

    async def card_for(self, incident: Incident) -> dict[str, Any]:
        where = None if incident.status == "resolved" else await self.escalation(incident)
        return incident_card(
            incident,
            level=where.current if where else None,
            levels=where.levels if where else None,
            last_action=self._last_actions.get(incident.id),
        )

    async def show(self, ref: str, channel_id: str) -> Reply:
        incident = await self.pagerduty.get_incident(ref)
        card = await self.card_for(incident)
        existing = await self.store.find_card(incident.id, channel_id)
        if existing is not None:
            await self.cards.update(existing, card)
            return Reply(
                private=["That incident's card is already in this channel; I refreshed it."]
            )
        await self.cards.post(channel_id, incident.id, card)
        return Reply()

    async def _refresh_cards(
        self, outcome: Outcome, origin: CardRef | None = None, clicked: CardRef | None = None
    ) -> list[str]:
        """Redraw every card of the incident (and the `clicked` one, stored or not) from
        PagerDuty's answer, with a line in each card's thread except `origin`'s, where the
        reply already says it. A card Slack will not update must not hide that the change
        was made, so the problems are returned, not raised."""
        refs = set(await self.store.cards_for(outcome.incident.id))
        if clicked is not None:
            refs.add(clicked)
        if not refs:
            return []
        card = await self.card_for(outcome.incident)
        problems = []
        for ref in refs:
            problems.append(await self.cards.update_quietly(ref, card))
            if ref != origin:
                problems.append(await self.cards.reply_quietly(ref, outcome.thread_line))
        return [problem for problem in problems if problem]

    async def click(
        self,
        verb: Verb,
        *,
        slack_user_id: str,
        state: CardState,
        card: CardRef,
        slack: AsyncWebClient,
        note: str = "",
        assignee: str = "",
    ) -> list[str]:
        """A button or modal on a card. The card is re-rendered from PagerDuty's answer,
        including when the click is refused because the incident moved on. Returns what
        only the clicker needs to hear."""
        try:
            async with self._attempt(slack_user_id, verb, state.incident_id):
                self.policy.check_channel(card.channel)
                actor = await self.identity.resolve(slack_user_id, slack)
                if verb is Verb.ACK:
                    outcome = await self.acknowledge(actor, state.incident_id)
                elif verb is Verb.RESOLVE:
                    outcome = await self.resolve(actor, state.incident_id, note)
                elif verb is Verb.ESCALATE:
                    outcome = await self.escalate(actor, state.incident_id, None, "", seen=state)
                elif verb is Verb.REASSIGN:
                    outcome = await self.reassign(actor, state.incident_id, assignee, slack)
                else:
                    raise UsageError(f"Cards cannot {verb}.")
        except IncidentNotFound:
            await self.cards.update_quietly(card, gone_card(state.incident_id))
            raise
        except NothingToDo as refusal:
            if refusal.incident is not None:
                await self.cards.update_quietly(card, await self.card_for(refusal.incident))
            raise
        problems = await self._refresh_cards(outcome, clicked=card)
        private = list(outcome.private)
        if problems:
            private.append(
                f"Done: {outcome.announcement} But Slack would not update the card "
                f"({', '.join(sorted(set(problems)))}); it may be stale until the next change."
            )
        return private


def _remember(cache: OrderedDict[str, _T], key: str, value: _T, limit: int = 10_000) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > limit:
        cache.popitem(last=False)


def _oncall_summary(oncalls: list[OnCall], last: int) -> str:
    by_level: dict[int, list[str]] = {}
    for entry in oncalls:
        by_level.setdefault(entry.escalation_level, []).append(escape(entry.user.summary))
    parts = [
        f"level {level}: {', '.join(sorted(set(by_level.get(level, [])))) or 'nobody'}"
        for level in range(1, last + 1)
    ]
    return "; ".join(parts) + "."
