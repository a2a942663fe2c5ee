"""What a person asked for, in words: the verbs, incident refs and usage. Pure: no I/O.

`Verb` is the one name of each action everywhere (policy rules, audit, metrics, "did we
just do this?"); the words people read are rendered from it, never matched against it.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from app.errors import UsageError
from app.mrkdwn import escape
from app.pagerduty.operations import MAX_SNOOZE_SECONDS

# Long enough for any resolution or hand-over note, short enough to echo in one Slack
# section (3,000 chars) with room for who/what, and far under PagerDuty's limits.
MAX_TEXT_CHARS = 2000
MAX_REFS_PER_ACK = 20


class Verb(StrEnum):
    HELP = "help"
    WHOAMI = "whoami"
    SHOW = "show"
    ACK = "ack"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    NOTE = "note"
    PRIORITY = "priority"
    URGENCY = "urgency"
    TITLE = "title"
    BRIDGE = "bridge"
    SNOOZE = "snooze"
    MERGE = "merge"

    @property
    def past(self) -> str:
        """What the channel reads: '@alice *acknowledged* #123'."""
        return _PAST.get(self, str(self))

    @property
    def done(self) -> str:
        """What the card's thread reads, where the incident goes without saying."""
        return _DONE.get(self, self.past)

    @property
    def needs_incident(self) -> bool:
        return self not in (Verb.HELP, Verb.WHOAMI)


_PAST = {
    Verb.SHOW: "posted the card of",
    Verb.ACK: "acknowledged",
    Verb.RESOLVE: "resolved",
    Verb.ESCALATE: "escalated",
    Verb.REASSIGN: "reassigned",
    Verb.NOTE: "added a note to",
    Verb.PRIORITY: "changed the priority of",
    Verb.URGENCY: "changed the urgency of",
    Verb.TITLE: "renamed",
    Verb.BRIDGE: "set the conference bridge of",
    Verb.SNOOZE: "snoozed",
    Verb.MERGE: "merged into",
}
_DONE = {
    Verb.PRIORITY: "changed the priority",
    Verb.URGENCY: "changed the urgency",
    Verb.TITLE: "renamed the incident",
    Verb.BRIDGE: "set the conference bridge",
    Verb.MERGE: "merged in",
}
_ALIASES = {"acknowledge": Verb.ACK}

# The verbs a POLICY_FILE rule may name: everything that touches an incident.
POLICY_VERBS = frozenset(verb for verb in Verb if verb.needs_incident)

USAGE = escape("""\
*Act on PagerDuty incidents as yourself*
*Act*
`/incident ack <ref> [<ref> ...]` acknowledge (alias: `acknowledge`)
`/incident resolve <ref> [note ...]` resolve; the note becomes the resolution
`/incident escalate <ref> [level] [note ...]` escalate (default: the next level)
`/incident snooze <ref> <duration>` snooze: `30m`, `2h`, `1h30m`, `1d` (1 minute to 7 days)
*Change*
`/incident reassign <ref> <@user | email | policy>` to a person, or to an escalation policy
`/incident priority <ref> <priority>` one of the account's priorities (`P1`, `SEV-2`)
`/incident urgency <ref> high|low`
`/incident title <ref> <new title ...>` rename
`/incident bridge <ref> <https url> [dial-in number]` the conference bridge
`/incident merge <ref> [<ref> ...] into <ref>` merge the first incidents into the last
*Around the incident*
`/incident note <ref> <text ...>` add a note
`/incident show <ref>` post the incident's card, with buttons, in this channel
`/incident whoami` which PagerDuty user you act as
`<ref>` is `123`, `#123`, an incident id like `PT4KHLK`, or its PagerDuty link.
`<policy>` is a policy's id or exact name; quote a name with spaces: `"SRE primary"`.""")

MENTION_USAGE = escape("""\
*Mention me in an incident card's thread* (no incident number needed):
`@incident-bot ack` · `resolve [note]` · `escalate [level] [note]` · `reassign @user`
· `snooze 2h` · `priority P1` · `urgency low` · `title <text>` · `bridge <url>`
· `note <text>` · `whoami` · `help`
Anywhere else, name the incident: `@incident-bot escalate 123`.""")

_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")
INCIDENT_ID = re.compile(r"[A-Z0-9]{6,20}")
_INCIDENT_URL = re.compile(
    r"https://[a-z0-9-]+\.(?:eu\.)?pagerduty\.com/incidents/([A-Z0-9]{6,20})/?", re.IGNORECASE
)
_LEVEL_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class ParsedCommand:
    verb: Verb
    refs: tuple[str, ...] = ()
    level: int | None = None
    text: str = ""
    target: str = ""
    policy: str = ""  # reassign: an escalation policy's id or name, as typed
    seconds: int | None = None  # snooze
    sources: tuple[str, ...] = ()  # merge: the incidents merged into `ref`
    dial_in: str = ""  # bridge: the conference's phone number

    @property
    def ref(self) -> str:
        return self.refs[0]


def parse_ref(token: str) -> str:
    """An incident number (as digits) or id, from any accepted spelling."""
    link = _SLACK_LINK.fullmatch(token)
    candidate = link.group(1) if link else token
    if number := _NUMBER.fullmatch(candidate):
        return number.group(1)
    if INCIDENT_ID.fullmatch(candidate):
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


def checked_text(text: str, what: str) -> str:
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
    verb = _verb(words[0])
    if not verb.needs_incident:
        return ParsedCommand(verb)
    if len(words) < 2:
        raise UsageError(f"`{verb}` needs an incident: `/incident {verb} 123`.\n" + USAGE)
    if verb is Verb.ACK:
        if len(words) - 1 > MAX_REFS_PER_ACK:
            raise UsageError(f"Acknowledge at most {MAX_REFS_PER_ACK} incidents at once.")
        return ParsedCommand(verb, refs=tuple(dict.fromkeys(parse_ref(w) for w in words[1:])))
    return _PARSERS[verb](verb, parse_ref(words[1]), words[2:])


def without_mention_of(bot_user_id: str, text: str) -> str:
    """The text of a mention with the bot's own `<@B…>` / `<@B…|name>` taken out. The label
    is bounded so a hostile `<@B…|` repeated thousands of times stays linear."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]{{0,200}})?>", " ", text)


def parse_mention(text: str, thread_incident: str | None) -> ParsedCommand:
    """`@incident-bot <verb> ...`: in a card's thread the incident is the card's."""
    words = text.split()
    if not words:
        return ParsedCommand(Verb.HELP)
    if thread_incident is not None and _verb(words[0]).needs_incident:
        words.insert(1, thread_incident)
    elif thread_incident is None and len(words) < 2 and _verb(words[0]).needs_incident:
        raise UsageError(
            f"This is not an incident card's thread, so name the incident.\n{MENTION_USAGE}"
        )
    return parse_command(" ".join(words))


def _verb(word: str) -> Verb:
    try:
        return _ALIASES.get(word.lower()) or Verb(word.lower())
    except ValueError:
        raise UsageError(f"I don't know `{escape(word)}`.\n" + USAGE) from None


def _rest(words: list[str]) -> str:
    return " ".join(words).strip()


def parse_level(token: str) -> int:
    if not re.fullmatch(r"[0-9]+", token) or int(token) < 1:
        raise UsageError(
            f"`{escape(token)}` is not an escalation level: use a whole number from 1 "
            "(levels count from 1, as in PagerDuty)."
        )
    return int(token)


def _show(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    return ParsedCommand(verb, (ref,))


def _resolve(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    return ParsedCommand(verb, (ref,), text=checked_text(_rest(rest), "resolution note"))


def _escalate(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    level = None
    if rest and rest[0].lower().startswith("level"):
        value = rest[0][len("level") :].lstrip("=:")
        if not value:
            if len(rest) < 2:
                raise UsageError("Say which level: `/incident escalate 123 level 2`.")
            value, rest = rest[1], rest[1:]
        level, rest = parse_level(value), rest[1:]
    elif rest and _LEVEL_LIKE.fullmatch(rest[0]):
        level, rest = parse_level(rest[0]), rest[1:]
    return ParsedCommand(verb, (ref,), level=level, text=checked_text(_rest(rest), "note"))


def _reassign(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    if not rest:
        raise UsageError(
            "Say to whom: `/incident reassign 123 @alice`, `... alice@example.com`, or an "
            'escalation policy: `... "SRE primary"`.'
        )
    if MENTION.fullmatch(rest[0]) or _EMAIL.fullmatch(rest[0]):
        if len(rest) > 1:
            raise UsageError(
                "Reassign to one person: `/incident reassign 123 @alice` or "
                "`... alice@example.com`."
            )
        return ParsedCommand(verb, (ref,), target=rest[0])
    return ParsedCommand(verb, (ref,), policy=unquoted(_rest(rest)))


def unquoted(name: str) -> str:
    """A name as typed, without the straight or curly quotes around it."""
    if len(name) >= 2 and name[0] in _OPENING_QUOTES and name[-1] in _CLOSING_QUOTES:
        return name[1:-1].strip()
    return name


_OPENING_QUOTES = '"“„'
_CLOSING_QUOTES = '"”“'
MIN_SNOOZE_SECONDS = 60
_DURATION = re.compile(r"(?:([0-9]{1,4})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,6})m)?", re.IGNORECASE)
_DURATION_HELP = "use minutes, hours or days like `30m`, `2h`, `1h30m` or `1d`"
MAX_MERGE_SOURCES = 20
_PHONE = re.compile(r"[0-9 +\-(),#]{1,64}")
_URL = re.compile(r"<?(https?://[^\s|<>]+)(?:\|[^>]*)?>?", re.IGNORECASE)


def parse_duration(token: str) -> int:
    """Seconds, from `30m`, `2h`, `1h30m`, `1d`: 1 minute to 7 days."""
    parts = _DURATION.fullmatch(token)
    if not token or parts is None:
        raise UsageError(f"`{escape(token)}` is not a duration: {_DURATION_HELP}.")
    days, hours, minutes = (int(part or 0) for part in parts.groups())
    seconds = ((days * 24 + hours) * 60 + minutes) * 60
    if seconds < MIN_SNOOZE_SECONDS:
        raise UsageError(f"A snooze lasts at least 1 minute; `{escape(token)}` is shorter.")
    if seconds > MAX_SNOOZE_SECONDS:
        raise UsageError(f"A snooze lasts at most 7 days; `{escape(token)}` is longer.")
    return seconds


def _priority(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    name = unquoted(_rest(rest))
    if not name:
        raise UsageError("Say which priority: `/incident priority 123 P1`.")
    return ParsedCommand(verb, (ref,), text=name)


def _urgency(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    if len(rest) != 1 or rest[0].lower() not in ("high", "low"):
        said = f"`{escape(_rest(rest))}` is not an urgency. " if rest else ""
        raise UsageError(f"{said}Urgency is `high` or `low`: `/incident urgency 123 low`.")
    return ParsedCommand(verb, (ref,), text=rest[0].lower())


def _title(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    title = checked_text(_rest(rest), "title")
    if not title:
        raise UsageError("The new title is empty: `/incident title 123 checkout down in eu-west`.")
    return ParsedCommand(verb, (ref,), text=title)


def _bridge(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    url, number = parse_bridge(rest[0] if rest else "", _rest(rest[1:]))
    return ParsedCommand(verb, (ref,), text=url, dial_in=number)


def parse_bridge(url: str, number: str) -> tuple[str, str]:
    """An `https` link (as typed, or as Slack formats it: `<https://…|…>`) and a dial-in
    number of digits, spaces and `+ - ( ) , #`, which may be empty."""
    usage = "`/incident bridge 123 https://meet.example.com/abc [+1 555 0100,,123#]`"
    link = _URL.fullmatch(url)
    if link is None or not link.group(1).lower().startswith("https://"):
        said = f"`{escape(url)}` is not an https link. " if url else ""
        raise UsageError(f"{said}A conference bridge is an `https://` link: {usage}.")
    if number and not (_PHONE.fullmatch(number) and any(c.isdigit() for c in number)):
        raise UsageError(
            f"`{escape(number)}` is not a dial-in number: use digits, spaces and "
            f"`+ - ( ) , #` only: {usage}."
        )
    return checked_text(link.group(1), "link"), number


def _snooze(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    if len(rest) != 1:
        raise UsageError(f"Say for how long: `/incident snooze 123 2h`; {_DURATION_HELP}.")
    return ParsedCommand(verb, (ref,), seconds=parse_duration(rest[0]))


def _merge(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    usage = "`/incident merge 124 125 into 123`"
    words = [word.lower() for word in rest]
    if words.count("into") != 1 or words.index("into") != len(rest) - 2:
        raise UsageError(f"Say which incident to merge into, last: {usage}.")
    sources = tuple(dict.fromkeys([ref, *(parse_ref(w) for w in rest[:-2])]))
    target = parse_ref(rest[-1])
    if target in sources:
        raise UsageError(f"An incident cannot be merged into itself ({escape(target)}).")
    if len(sources) > MAX_MERGE_SOURCES:
        raise UsageError(
            f"Merge at most {MAX_MERGE_SOURCES} incidents at once; you named {len(sources)}."
        )
    return ParsedCommand(verb, (target,), sources=sources)


def _note(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    note = checked_text(_rest(rest), "note")
    if not note:
        raise UsageError("The note is empty: `/incident note 123 restarted the db`.")
    return ParsedCommand(verb, (ref,), text=note)


_PARSERS = {
    Verb.SHOW: _show,
    Verb.RESOLVE: _resolve,
    Verb.ESCALATE: _escalate,
    Verb.REASSIGN: _reassign,
    Verb.NOTE: _note,
    Verb.PRIORITY: _priority,
    Verb.URGENCY: _urgency,
    Verb.TITLE: _title,
    Verb.BRIDGE: _bridge,
    Verb.SNOOZE: _snooze,
    Verb.MERGE: _merge,
}
