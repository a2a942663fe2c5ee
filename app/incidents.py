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
from datetime import UTC, datetime
from enum import StrEnum

from slack_sdk.web.async_client import AsyncWebClient

from app.errors import BotError, NeedsLevel, NothingToDo, NotMapped, UsageError
from app.identity import IdentityResolver, VerifiedUser
from app.mrkdwn import escape, link
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import PagerDutyError
from app.pagerduty.models import Incident, OnCall, User

logger = logging.getLogger(__name__)

# Long enough for any resolution or hand-over note, short enough to echo in one Slack
# section (3,000 chars) with room for who/what, and far under PagerDuty's limits.
MAX_TEXT_CHARS = 2000
MAX_REFS_PER_ACK = 20


class Verb(StrEnum):
    HELP = "help"
    WHOAMI = "whoami"
    ACK = "ack"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    NOTE = "note"


_ALIASES = {"acknowledge": Verb.ACK}

USAGE = escape("""\
*Act on PagerDuty incidents as yourself*
`/incident ack <ref> [<ref> ...]` acknowledge (alias: `acknowledge`)
`/incident resolve <ref> [note ...]` resolve; the note becomes the resolution
`/incident escalate <ref> [level] [note ...]` escalate (default: the next level)
`/incident reassign <ref> <@user | email>` reassign to that person
`/incident note <ref> <text ...>` add a note
`/incident whoami` which PagerDuty user you act as
`<ref>` is `123`, `#123`, an incident id like `PT4KHLK`, or its PagerDuty link.""")

_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")
_INCIDENT_ID = re.compile(r"[A-Z0-9]{6,20}")
_INCIDENT_URL = re.compile(
    r"https://[a-z0-9-]+\.(?:eu\.)?pagerduty\.com/incidents/([A-Z0-9]{6,20})/?", re.IGNORECASE
)
_LEVEL_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")
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


def _state_sentence(incident: Incident) -> str:
    """'#123 is already resolved by Bob Builder 5 min ago'."""
    by = incident.last_status_change_by
    who = f" by {escape(by.summary)}" if by and by.summary else ""
    return (
        f"#{incident.incident_number} is already {incident.status}{who}"
        f"{_ago(incident.last_status_change_at)}"
    )


class IncidentActions:
    """What a person can do to an incident, each as one read-then-maybe-write."""

    def __init__(self, pagerduty: PagerDutyClient, identity: IdentityResolver) -> None:
        self.pagerduty = pagerduty
        self.identity = identity
        self._locks: dict[str, asyncio.Lock] = {}
        self._ids_by_number: OrderedDict[str, str] = OrderedDict()

    @asynccontextmanager
    async def _fresh(self, ref: str) -> AsyncIterator[Incident]:
        """The incident as PagerDuty has it now, while no other action of ours on it runs."""
        incident_id = self._ids_by_number.get(ref, ref)
        if incident_id == ref and ref.isdigit():
            incident_id = (await self.pagerduty.get_incident(ref)).id
            self._ids_by_number[ref] = incident_id
            if len(self._ids_by_number) > 10_000:
                self._ids_by_number.popitem(last=False)
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        try:
            async with lock:
                yield await self.pagerduty.get_incident(incident_id)
        finally:
            if not lock.locked() and self._locks.get(incident_id) is lock:
                del self._locks[incident_id]

    async def acknowledge(self, actor: VerifiedUser, ref: str) -> str:
        async with self._fresh(ref) as incident:
            if incident.status == "resolved":
                raise NothingToDo(
                    f"{_state_sentence(incident)}; acknowledging it would re-open it, so "
                    "nothing was changed."
                )
            if incident.status == "acknowledged":
                raise NothingToDo(f"{_state_sentence(incident)}; nothing was changed.")
            incident = await self.pagerduty.update_incident(
                incident.id, actor.email, status="acknowledged"
            )
        return f"<@{actor.slack_user_id}> acknowledged {incident_link(incident)}."

    async def resolve(self, actor: VerifiedUser, ref: str, resolution: str) -> str:
        async with self._fresh(ref) as incident:
            if incident.status == "resolved":
                raise NothingToDo(f"{_state_sentence(incident)}; nothing was changed.")
            changes: dict[str, str] = {"status": "resolved"}
            if resolution:
                changes["resolution"] = resolution
            incident = await self.pagerduty.update_incident(incident.id, actor.email, **changes)
        said = f": {escape(resolution)}" if resolution else "."
        return f"<@{actor.slack_user_id}> resolved {incident_link(incident)}{said}"

    async def escalate(
        self, actor: VerifiedUser, ref: str, level: int | None, note: str
    ) -> tuple[str, list[str]]:
        """Returns the announcement and anything only the actor needs to hear."""
        async with self._fresh(ref) as incident:
            if incident.status == "resolved":
                raise NothingToDo(f"{_state_sentence(incident)}; nothing was changed.")
            policy = await self.pagerduty.get_escalation_policy(incident.escalation_policy.id)
            last = len(policy.escalation_rules)
            name = escape(policy.name or policy.summary or policy.id)
            if level is not None and level > last:
                raise UsageError(f"{name} has {last} level(s); there is no level {level}.")
            oncalls = await self.pagerduty.list_oncalls(policy.id)
            current_levels = {
                o.escalation_level for o in oncalls if o.user.id in incident.assignee_ids
            }
            if level is None:
                if len(current_levels) != 1:
                    raise NeedsLevel(
                        f"I can't tell which level of {name} #{incident.incident_number} is at "
                        "(it was reassigned by hand, or its assignees are not on call), so "
                        "nothing was changed. Say which level: "
                        f"`/incident escalate {incident.incident_number} <level>`. "
                        "On call now: " + _oncall_summary(oncalls, last)
                    )
                level = current_levels.pop() + 1
                if level > last:
                    raise NothingToDo(
                        f"#{incident.incident_number} is already at the last level ({last}) "
                        f"of {name}; nothing was changed."
                    )
            elif current_levels == {level}:
                raise NothingToDo(
                    f"#{incident.incident_number} is already at level {level}; nothing was changed."
                )
            incident = await self.pagerduty.update_incident(
                incident.id, actor.email, escalation_level=level
            )
        assignees = ", ".join(escape(a.assignee.summary) for a in incident.assignments)
        announcement = (
            f"<@{actor.slack_user_id}> escalated {incident_link(incident)} to level {level}"
            + (f" ({assignees})" if assignees else "")
            + (f": {escape(note)}" if note else ".")
        )
        private = await self._note_after_write(actor, incident, note)
        return announcement, private

    async def reassign(
        self, actor: VerifiedUser, ref: str, target: str, slack: AsyncWebClient
    ) -> str:
        assignee = await self._target_user(target, slack)
        async with self._fresh(ref) as incident:
            if incident.status == "resolved":
                raise NothingToDo(f"{_state_sentence(incident)}; nothing was changed.")
            if incident.assignee_ids == {assignee.id}:
                raise NothingToDo(
                    f"#{incident.incident_number} is already assigned to "
                    f"{escape(assignee.name)}; nothing was changed."
                )
            incident = await self.pagerduty.update_incident(
                incident.id,
                actor.email,
                assignments=[{"assignee": {"id": assignee.id, "type": "user_reference"}}],
            )
        return (
            f"<@{actor.slack_user_id}> reassigned {incident_link(incident)} "
            f"to {escape(assignee.name)}."
        )

    async def add_note(self, actor: VerifiedUser, ref: str, text: str) -> str:
        async with self._fresh(ref) as incident:
            await self.pagerduty.add_note(incident.id, actor.email, text)
        return f"<@{actor.slack_user_id}> added a note to {incident_link(incident)}: {escape(text)}"

    async def _note_after_write(
        self, actor: VerifiedUser, incident: Incident, note: str
    ) -> list[str]:
        if not note:
            return []
        try:
            await self.pagerduty.add_note(incident.id, actor.email, note)
        except PagerDutyError as error:
            return [f"The escalation stands, but the note was not added: {error.message}"]
        return []

    async def _target_user(self, target: str, slack: AsyncWebClient) -> User:
        if mention := _MENTION.fullmatch(target):
            who = f"@{mention.group(2)}" if mention.group(2) else "That person"
            return (await self.identity.resolve(mention.group(1), slack, who=who)).pagerduty
        user = await self.pagerduty.find_user_by_email(target)
        if user is None:
            raise NotMapped(
                f"No PagerDuty user has the email {escape(target)}; nothing was changed."
            )
        return user

    # --- the slash command -------------------------------------------------------------

    async def run_command(self, text: str, slack_user_id: str, slack: AsyncWebClient) -> Reply:
        """Parse, identify, act. Raises `BotError` when nothing at all could be done."""
        command = parse_command(text)
        if command.verb is Verb.HELP:
            return Reply(private=[USAGE])
        actor = await self.identity.resolve(slack_user_id, slack)
        if command.verb is Verb.WHOAMI:
            return Reply(
                private=[
                    f"You act in PagerDuty as {escape(actor.pagerduty.name)} "
                    f"({escape(actor.email)}), matched by your {actor.source}."
                ]
            )
        if command.verb is Verb.ACK:
            return await self._acknowledge_all(actor, command.refs)
        ref = command.refs[0]
        reply = Reply()
        if command.verb is Verb.RESOLVE:
            reply.public.append(await self.resolve(actor, ref, command.text))
        elif command.verb is Verb.ESCALATE:
            announcement, private = await self.escalate(actor, ref, command.level, command.text)
            reply.public.append(announcement)
            reply.private.extend(private)
        elif command.verb is Verb.REASSIGN:
            reply.public.append(await self.reassign(actor, ref, command.target, slack))
        else:
            reply.public.append(await self.add_note(actor, ref, command.text))
        logger.info("action done", extra={"verb": str(command.verb), "ref": ref})
        return reply

    async def _acknowledge_all(self, actor: VerifiedUser, refs: tuple[str, ...]) -> Reply:
        if len(refs) == 1:
            return Reply(public=[await self.acknowledge(actor, refs[0])])
        results = await asyncio.gather(
            *(self.acknowledge(actor, ref) for ref in refs), return_exceptions=True
        )
        reply = Reply()
        for ref, result in zip(refs, results, strict=True):
            if isinstance(result, BotError):
                reply.private.append(f"{ref}: {result.message}")
            elif isinstance(result, BaseException):
                raise result
            else:
                reply.public.append(result)
        return reply


def _oncall_summary(oncalls: list[OnCall], last: int) -> str:
    by_level: dict[int, list[str]] = {}
    for entry in oncalls:
        by_level.setdefault(entry.escalation_level, []).append(escape(entry.user.summary))
    parts = [
        f"level {level}: {', '.join(sorted(set(by_level.get(level, [])))) or 'nobody'}"
        for level in range(1, last + 1)
    ]
    return "; ".join(parts) + "."
