"""What a person asked for, in words: the verbs, incident refs and usage. Pure: no I/O.

`Verb` is the one name of each action everywhere (policy rules, audit, metrics, "did we
just do this?"); the words people read are rendered from it, never matched against it.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.errors import UsageError
from app.mrkdwn import escape, text_of_blocks

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
A mention that names an incident acts on it, even in a card's thread (`resolve 456`);
there a number right after `escalate` is its level: `escalate 2` · `escalate #456 2`.
Anywhere else, name the incident: `@incident-bot escalate 123`.""")

# Every pattern below is applied only to one bounded token (`MAX_TOKEN_CHARS`) and has no
# nested or overlapping repetition, so matching stays linear even on hostile words.
MAX_TOKEN_CHARS = 300
_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")
INCIDENT_ID = re.compile(r"[A-Z0-9]{6,20}")
_INCIDENT_URL = re.compile(
    r"https://[a-z0-9-]+\.(?:eu\.)?pagerduty\.com/incidents/([A-Z0-9]{6,20})/?", re.IGNORECASE
)
_LEVEL_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
# Domain labels are separated by single dots, so there is one way to match: linear.
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|.]+(?:\.[^@\s<>|.]+)+")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)(?:\|[^>]*)?>")
_WORD = re.compile(r"\S+")
# Slack escapes exactly these three in command and message text (not in modal inputs).
_SLACK_ESCAPE = re.compile(r"&(amp|lt|gt);")
_SLACK_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


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


def message_as_typed(message: dict[str, Any]) -> str:
    """A Slack message's text as its author typed it; a message posted with blocks only
    (by an app, say) has an empty `text`, so its blocks are read instead."""
    escaped = str(message.get("text") or "").strip() or text_of_blocks(message.get("blocks") or [])
    return as_typed(escaped)


def as_typed(slack_text: str) -> str:
    """What the person typed, from Slack's command or message text: `&amp;` `&lt;` `&gt;`
    decoded in one pass (so a typed `&amp;lt;` stays `&lt;`); nothing else is touched."""
    return _SLACK_ESCAPE.sub(lambda m: _SLACK_UNESCAPED[m.group(1)], slack_text)


class _Words:
    """The head of a command read word by word; the rest stays the substring as typed, with
    its line breaks, spacing and code fences."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._at = 0

    def peek(self) -> str | None:
        word = _WORD.search(self._text, self._at)
        return word.group() if word else None

    def take(self) -> str | None:
        word = _WORD.search(self._text, self._at)
        if word is None:
            return None
        self._at = word.end()
        return word.group()

    def rest(self) -> str:
        return as_typed(self._text[self._at :].strip())


def _bounded(token: str, what: str) -> str:
    if len(token) > MAX_TOKEN_CHARS:
        raise UsageError(
            f"`{escape(token[:40])}…` is {len(token)} characters long: too long for {what}."
        )
    return token


def parse_ref(token: str) -> str:
    """An incident number (as digits) or id, from any accepted spelling."""
    link = _SLACK_LINK.fullmatch(_bounded(token, "an incident"))
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
    """Raise `UsageError` naming what is wrong; nothing is sent to PagerDuty then. `text` is
    Slack's (escaped) command text."""
    return _parse(_Words(text), thread_incident=None)


def without_mention_of(bot_user_id: str, text: str) -> str:
    """The text of a mention with the bot's own `<@B…>` / `<@B…|name>` taken out. The label
    is bounded so a hostile `<@B…|` repeated thousands of times stays linear."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^<>]{{0,200}})?>", " ", text)


def parse_mention(text: str, thread_incident: str | None) -> ParsedCommand:
    """`@incident-bot <verb> ...`. In a card's thread a mention that names an incident acts on
    that one; only one naming none falls back to the card's (`thread_incident`). A bare
    number right after `escalate` is its level there, as the mention usage says."""
    words = _Words(text)
    if words.peek() is None:
        return ParsedCommand(Verb.HELP)
    if thread_incident is None and _verb(words.peek() or "").needs_incident:
        probe = _Words(text)
        probe.take()
        if probe.peek() is None:
            raise UsageError(
                f"This is not an incident card's thread, so name the incident.\n{MENTION_USAGE}"
            )
    return _parse(words, thread_incident)


def _parse(words: _Words, thread_incident: str | None) -> ParsedCommand:
    first = words.take()
    if first is None:
        raise UsageError("Tell me what to do.\n" + USAGE)
    verb = _verb(first)
    if verb is Verb.ACK and (words.peek() or "").lower() == "mine":
        words.take()
        if words.peek() is not None:
            raise UsageError("`ack mine` takes nothing more: `/incident ack mine`.")
        return ParsedCommand(Verb.ACK_MINE)
    if verb in _AROUND_PARSERS:
        return _AROUND_PARSERS[verb](verb, words)
    if not verb.needs_incident:
        return ParsedCommand(verb)
    if thread_incident is not None and not _names_incident(verb, words.peek()):
        ref = thread_incident
    else:
        token = words.take()
        if token is None:
            raise UsageError(f"`{verb}` needs an incident: `/incident {verb} 123`.\n" + USAGE)
        ref = parse_ref(token)
    if verb is Verb.ACK:
        refs = [ref]
        while (token := words.take()) is not None:
            if len(refs) == MAX_REFS_PER_ACK:
                raise UsageError(f"Acknowledge at most {MAX_REFS_PER_ACK} incidents at once.")
            refs.append(parse_ref(token))
        return ParsedCommand(verb, refs=tuple(dict.fromkeys(refs)))
    return _PARSERS[verb](verb, ref, words)


def _names_incident(verb: Verb, token: str | None) -> bool:
    """In a card's thread: does this word name an incident rather than start the text?
    Numbers, `#123` and links do; an id must have a digit, so a note that starts with a
    shouted word (`note DATABASE down`) stays on the card's incident."""
    if token is None or (verb is Verb.ESCALATE and token.isascii() and token.isdigit()):
        return False
    try:
        ref = parse_ref(token)
    except UsageError:
        return False
    return ref.isdigit() or any(char.isdigit() for char in ref)


def _verb(word: str) -> Verb:
    word = _bounded(word, "a verb").lower()
    try:
        return _ALIASES.get(word) or Verb(word)
    except ValueError:
        raise UsageError(f"I don't know `{escape(word)}`.\n" + USAGE) from None


def parse_level(token: str) -> int:
    if len(token) > 3 or not (token.isascii() and token.isdigit()) or int(token) < 1:
        raise UsageError(
            f"`{escape(_bounded(token, 'a level'))}` is not an escalation level: use a whole "
            "number from 1 (levels count from 1, as in PagerDuty)."
        )
    return int(token)


def _show(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    return ParsedCommand(verb, (ref,))


def _resolve(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    return ParsedCommand(verb, (ref,), text=checked_text(words.rest(), "resolution note"))


def _escalate(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    level = None
    head = words.peek()
    if head is not None and head.lower().startswith("level"):
        words.take()
        value = head[len("level") :].lstrip("=:")
        if not value:
            value = words.take() or ""
            if not value:
                raise UsageError("Say which level: `/incident escalate 123 level 2`.")
        level = parse_level(value)
    elif head is not None and _LEVEL_LIKE.fullmatch(_bounded(head, "a level")):
        level = parse_level(words.take() or "")
    return ParsedCommand(verb, (ref,), level=level, text=checked_text(words.rest(), "note"))


def _reassign(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    target = words.take()
    if target is None or words.peek() is not None:
        raise UsageError("Say who: `/incident reassign 123 @alice` or `... alice@example.com`.")
    _bounded(target, "a person")
    if not (MENTION.fullmatch(target) or _EMAIL.fullmatch(target)):
        raise UsageError(
            f"`{escape(target)}` is not a person: mention them (`@alice`) or give their email."
        )
    return ParsedCommand(verb, (ref,), target=target)


def _note(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    note = checked_text(words.rest(), "note")
    if not note:
        raise UsageError("The note is empty: `/incident note 123 restarted the db`.")
    return ParsedCommand(verb, (ref,), text=note)


_OPENING_QUOTES = '"“”'
_CLOSING_QUOTES = '"”“'
# A policy's id as PagerDuty writes it (PEPOL01, PABC123): capitals with a digit.
POLICY_ID = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{7,20}")
MAX_PAGE_TARGETS = 10
MAX_NAME_WORDS = 20


def _name(words: _Words) -> str:
    """A name at the head of `words`: one word, or several in straight or curly quotes."""
    first = words.take()
    if first is None:
        return ""
    if first[0] not in _OPENING_QUOTES:
        return as_typed(_bounded(first, "a name"))
    taken = [_bounded(first, "a name")]
    while not (taken[-1][-1] in _CLOSING_QUOTES and (len(taken) > 1 or len(first) > 1)):
        word = words.take()
        if word is None or len(taken) == MAX_NAME_WORDS:
            raise UsageError(f"The name {escape(' '.join(taken)[:80])} has no closing quote.")
        taken.append(_bounded(word, "a name"))
    return as_typed(" ".join(taken)[1:-1].strip())


def _page(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    targets: list[str] = []
    while (head := words.peek()) is not None and len(targets) < MAX_PAGE_TARGETS:
        _bounded(head, "a person or policy")
        if MENTION.fullmatch(head) or _EMAIL.fullmatch(head) or POLICY_ID.fullmatch(head):
            targets.append(words.take() or "")
        elif head[0] in _OPENING_QUOTES or not targets:
            # An unquoted bare word is a policy's name only as the first target.
            targets.append(f'"{_name(words)}"')
        else:
            break
    if not targets:
        raise UsageError(
            "Say whom to page: `/incident page 123 @bob` or `/incident page 123 "
            '"SRE primary" please join`.'
        )
    message = checked_text(words.rest(), "message")
    return ParsedCommand(verb, (ref,), targets=tuple(targets), text=message)


def _update(verb: Verb, ref: str, words: _Words) -> ParsedCommand:
    message = checked_text(words.rest(), "status update")
    if not message:
        raise UsageError(
            "The status update is empty: `/incident update 123 rolled back, errors falling`."
        )
    return ParsedCommand(verb, (ref,), text=message)


def _oncall(verb: Verb, words: _Words) -> ParsedCommand:
    """The whole rest is the name, quoted or not."""
    name = words.rest()
    if name[:1] in _OPENING_QUOTES and name[-1:] in _CLOSING_QUOTES:
        name = name[1:-1].strip()
    return ParsedCommand(verb, target=_bounded(name, "a policy or service name"))


def _mine(verb: Verb, words: _Words) -> ParsedCommand:
    if words.peek() is not None:
        raise UsageError("`mine` takes nothing more: `/incident mine`.")
    return ParsedCommand(verb)


def _trigger(verb: Verb, words: _Words) -> ParsedCommand:
    service = _name(words)
    title = checked_text(words.rest(), "title")
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
