"""What a person asked for, in words: the verbs, incident refs and usage. Pure: no I/O.

`Verb` is the one name of each action everywhere (policy rules, audit, metrics, "did we
just do this?"); the words people read are rendered from it, never matched against it.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from app.errors import UsageError
from app.mrkdwn import escape

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
    # Around the incident (issue 17)
    PAGE = "page"
    UPDATE = "update"
    ONCALL = "oncall"
    MINE = "mine"
    ACK_MINE = "ack mine"  # two words: typed as `ack mine`, never matched as one
    TRIGGER = "trigger"

    @property
    def past(self) -> str:
        """What the channel reads: '@alice *acknowledged* #123'."""
        return _PAST.get(self, str(self))

    @property
    def needs_incident(self) -> bool:
        return self not in (Verb.HELP, Verb.WHOAMI, *AROUND_VERBS)


_PAST = {
    Verb.SHOW: "posted the card of",
    Verb.ACK: "acknowledged",
    Verb.RESOLVE: "resolved",
    Verb.ESCALATE: "escalated",
    Verb.REASSIGN: "reassigned",
    Verb.NOTE: "added a note to",
    Verb.PAGE: "asked for responders on",
    Verb.UPDATE: "posted a status update on",
    Verb.ONCALL: "looked up who is on call",
    Verb.MINE: "listed their incidents",
    Verb.ACK_MINE: "acknowledged",
    Verb.TRIGGER: "opened",
}
# The verbs that act without naming an incident; each still passes the whole pipeline.
AROUND_VERBS = (Verb.ONCALL, Verb.MINE, Verb.ACK_MINE, Verb.TRIGGER)
_ALIASES = {"acknowledge": Verb.ACK}

# The verbs a POLICY_FILE rule may name: everything but help and whoami.
POLICY_VERBS = frozenset(verb for verb in Verb if verb not in (Verb.HELP, Verb.WHOAMI))

USAGE = escape("""\
*Act on PagerDuty incidents as yourself*
`/incident ack <ref> [<ref> ...]` acknowledge (alias: `acknowledge`)
`/incident resolve <ref> [note ...]` resolve; the note becomes the resolution
`/incident escalate <ref> [level] [note ...]` escalate (default: the next level)
`/incident reassign <ref> <@user | email>` reassign to that person
`/incident note <ref> <text ...>` add a note
`/incident show <ref>` post the incident's card, with buttons, in this channel
`/incident whoami` which PagerDuty user you act as
*Around the incident*
`/incident oncall [<policy | service>]` who is on call now (default: this channel's services)
`/incident mine` your open incidents, to you alone · `/incident ack mine` acknowledge them all
`/incident page <ref> <@user | policy> [...] [message ...]` ask them to join as responders
`/incident update <ref> <message ...>` a status update to the incident's subscribers
`/incident trigger <service> <title ...>` open an incident on that service, as you
Names with spaces go in quotes: `"SRE primary"`.
`<ref>` is `123`, `#123`, an incident id like `PT4KHLK`, or its PagerDuty link.""")

MENTION_USAGE = escape("""\
*Mention me in an incident card's thread* (no incident number needed):
`@incident-bot ack` · `resolve [note]` · `escalate [level] [note]` · `reassign @user`
· `note <text>` · `page @user [message]` · `update <text>` · `whoami` · `help`
Anywhere: `oncall [name]` · `mine` · `ack mine` · `trigger <service> <title>`.
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
    # Around the incident: `page` targets; `trigger` from the shortcut: the urgency asked
    # for, the key that makes a double submit open one incident, the message's link.
    targets: tuple[str, ...] = ()
    new_urgency: str = ""
    incident_key: str = ""
    source_link: str = ""

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
    if verb is Verb.ACK and [w.lower() for w in words[1:]] == ["mine"]:
        return ParsedCommand(Verb.ACK_MINE)
    if verb in _AROUND_PARSERS:
        return _AROUND_PARSERS[verb](verb, words[1:])
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
    mine = [w.lower() for w in words[1:]] == ["mine"]
    if thread_incident is not None and _verb(words[0]).needs_incident and not mine:
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
    if len(rest) != 1:
        raise UsageError("Say who: `/incident reassign 123 @alice` or `... alice@example.com`.")
    target = rest[0]
    if not (MENTION.fullmatch(target) or _EMAIL.fullmatch(target)):
        raise UsageError(
            f"`{escape(target)}` is not a person: mention them (`@alice`) or give their email."
        )
    return ParsedCommand(verb, (ref,), target=target)


def _note(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    note = checked_text(_rest(rest), "note")
    if not note:
        raise UsageError("The note is empty: `/incident note 123 restarted the db`.")
    return ParsedCommand(verb, (ref,), text=note)


_OPENING_QUOTES = '"“”'
_CLOSING_QUOTES = '"”“'
# A policy's id as PagerDuty writes it (PEPOL01, PABC123): capitals with a digit.
POLICY_ID = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{7,20}")
MAX_PAGE_TARGETS = 10


def _name(words: list[str]) -> tuple[str, list[str]]:
    """A name at the head of `words`: one word, or several in straight or curly quotes."""
    if not words or words[0][0] not in _OPENING_QUOTES:
        return (words[0], words[1:]) if words else ("", [])
    for end, word in enumerate(words):
        closes = word[-1] in _CLOSING_QUOTES and (end > 0 or len(word) > 1)
        if closes:
            return " ".join(words[: end + 1])[1:-1].strip(), words[end + 1 :]
    raise UsageError(f"The name {escape(' '.join(words))} has no closing quote.")


def _page(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    targets: list[str] = []
    while rest and len(targets) < MAX_PAGE_TARGETS:
        head = rest[0]
        if MENTION.fullmatch(head) or _EMAIL.fullmatch(head) or POLICY_ID.fullmatch(head):
            targets.append(head)
            rest = rest[1:]
        elif head[0] in _OPENING_QUOTES or not targets:
            # An unquoted bare word is a policy's name only as the first target.
            name, rest = _name(rest)
            targets.append(f'"{name}"')
        else:
            break
    if not targets:
        raise UsageError(
            "Say whom to page: `/incident page 123 @bob` or `/incident page 123 "
            '"SRE primary" please join`.'
        )
    message = checked_text(_rest(rest), "message")
    return ParsedCommand(verb, (ref,), targets=tuple(targets), text=message)


def _update(verb: Verb, ref: str, rest: list[str]) -> ParsedCommand:
    message = checked_text(_rest(rest), "status update")
    if not message:
        raise UsageError(
            "The status update is empty: `/incident update 123 rolled back, errors falling`."
        )
    return ParsedCommand(verb, (ref,), text=message)


def _oncall(verb: Verb, rest: list[str]) -> ParsedCommand:
    name, after = _name(rest)
    if after:  # an unquoted name with spaces: take it as typed
        name = _rest(rest)
    return ParsedCommand(verb, target=name.strip(_OPENING_QUOTES).strip())


def _mine(verb: Verb, rest: list[str]) -> ParsedCommand:
    if rest:
        raise UsageError("`mine` takes nothing more: `/incident mine`.")
    return ParsedCommand(verb)


def _trigger(verb: Verb, rest: list[str]) -> ParsedCommand:
    service, title_words = _name(rest)
    title = checked_text(_rest(title_words), "title")
    if not service or not title:
        raise UsageError(
            'Say which service and what is wrong: `/incident trigger "Checkout API" '
            "checkout returns 500s`."
        )
    return ParsedCommand(verb, target=service, text=title)


_AROUND_PARSERS = {Verb.ONCALL: _oncall, Verb.MINE: _mine, Verb.TRIGGER: _trigger}

_PARSERS = {
    Verb.SHOW: _show,
    Verb.RESOLVE: _resolve,
    Verb.ESCALATE: _escalate,
    Verb.REASSIGN: _reassign,
    Verb.NOTE: _note,
    Verb.PAGE: _page,
    Verb.UPDATE: _update,
}
