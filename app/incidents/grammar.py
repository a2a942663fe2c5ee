"""What a person asked for: the verbs, their usage, and a parser per verb over the words
of `app.incidents.words`. Pure: no I/O.

`Verb` is the one name of each action everywhere (policy rules, audit, metrics, "did we
just do this?"); the words people read are rendered from it, never matched against it.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from app.errors import UsageError
from app.incidents.usage import MENTION_USAGE, USAGE
from app.incidents.words import (
    CLOSING_QUOTES,
    DURATION_HELP,
    EMAIL,
    LEVEL_LIKE,
    MENTION,
    OPENING_QUOTES,
    POLICY_ID,
    Words,
    as_typed,
    bounded,
    checked_text,
    parse_bridge,
    parse_duration,
    parse_level,
    parse_ref,
    quoted_name,
    unquoted,
)
from app.mrkdwn import escape

MAX_REFS_PER_ACK = 20
MAX_MERGE_SOURCES = 20
MAX_PAGE_TARGETS = 10


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
    # Around the incident (issue 17)
    PAGE = "page"
    UPDATE = "update"
    ONCALL = "oncall"
    MINE = "mine"
    ACK_MINE = "ack mine"  # two words: typed as `ack mine`, never matched as one
    TRIGGER = "trigger"

    @property
    def past(self) -> str:
        """What the channel reads: 'Alice Adams *acknowledged* #123'."""
        return _PAST.get(self, str(self))

    @property
    def done(self) -> str:
        """What the card's thread reads, where the incident goes without saying."""
        return _DONE.get(self, self.past)

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
# The verbs that act without naming an incident; each still passes the whole pipeline.
AROUND_VERBS = (Verb.ONCALL, Verb.MINE, Verb.ACK_MINE, Verb.TRIGGER)
_ALIASES = {"acknowledge": Verb.ACK}

# The verbs a POLICY_FILE rule may name: everything but help and whoami.
POLICY_VERBS = frozenset(verb for verb in Verb if verb not in (Verb.HELP, Verb.WHOAMI))


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
    # Around the incident: `page` targets; `trigger` from the shortcut: the urgency asked
    # for, the key that makes a double submit open one incident, the message's link.
    targets: tuple[str, ...] = ()
    new_urgency: str = ""
    incident_key: str = ""
    source_link: str = ""

    @property
    def ref(self) -> str:
        return self.refs[0]


def parse_command(text: str) -> ParsedCommand:
    """Raise `UsageError` naming what is wrong; nothing is sent to PagerDuty then. `text` is
    Slack's (escaped) command text."""
    return _parse(Words(text), thread_incident=None)


def without_mention_of(bot_user_id: str, text: str) -> str:
    """The text of a mention with the bot's own `<@B…>` / `<@B…|name>` taken out. The label
    is bounded so a hostile `<@B…|` repeated thousands of times stays linear."""
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^<>]{{0,200}})?>", " ", text)


def mentioned_verb(text: str) -> Verb:
    """The verb a mention asks for, known before its thread is read (so that a stranger is
    refused first); a word that is no verb fails as `parse_mention` would."""
    first = Words(text).take()
    return Verb.HELP if first is None else _verb(first)


def parse_mention(text: str, thread_incident: str | None) -> ParsedCommand:
    """`@incident-bot <verb> ...`. In a card's thread a mention that names an incident acts on
    that one; only one naming none falls back to the card's (`thread_incident`). A bare
    number right after `escalate` is its level there, as the mention usage says."""
    words = Words(text)
    if words.peek() is None:
        return ParsedCommand(Verb.HELP)
    if thread_incident is None and _verb(words.peek() or "").needs_incident:
        probe = Words(text)
        probe.take()
        if probe.peek() is None:
            raise UsageError(
                f"This is not an incident card's thread, so name the incident.\n{MENTION_USAGE}"
            )
    return _parse(words, thread_incident)


def _parse(words: Words, thread_incident: str | None) -> ParsedCommand:
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
    word = bounded(word, "a verb").lower()
    try:
        return _ALIASES.get(word) or Verb(word)
    except ValueError:
        raise UsageError(f"I don't know `{escape(word)}`.\n" + USAGE) from None


def _show(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    return ParsedCommand(verb, (ref,))


def _resolve(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    return ParsedCommand(verb, (ref,), text=checked_text(words.rest(), "resolution note"))


def _escalate(verb: Verb, ref: str, words: Words) -> ParsedCommand:
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
    elif head is not None and LEVEL_LIKE.fullmatch(bounded(head, "a level")):
        level = parse_level(words.take() or "")
    return ParsedCommand(verb, (ref,), level=level, text=checked_text(words.rest(), "note"))


def _note(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    note = checked_text(words.rest(), "note")
    if not note:
        raise UsageError("The note is empty: `/incident note 123 restarted the db`.")
    return ParsedCommand(verb, (ref,), text=note)


def _reassign(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    target = words.peek()
    if target is None:
        raise UsageError(
            "Say to whom: `/incident reassign 123 @alice`, `... alice@example.com`, or an "
            'escalation policy: `... "SRE primary"`.'
        )
    bounded(target, "a person or policy")
    if MENTION.fullmatch(target) or EMAIL.fullmatch(target):
        words.take()
        if words.peek() is not None:
            raise UsageError(
                "Reassign to one person: `/incident reassign 123 @alice` or "
                "`... alice@example.com`."
            )
        return ParsedCommand(verb, (ref,), target=target)
    return ParsedCommand(verb, (ref,), policy=unquoted(bounded(words.rest(), "a policy")))


def _priority(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    name = unquoted(bounded(words.rest(), "a priority"))
    if not name:
        raise UsageError("Say which priority: `/incident priority 123 P1`.")
    return ParsedCommand(verb, (ref,), text=name)


def _urgency(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    urgency = words.take()
    if urgency is not None and words.peek() is None and urgency.lower() in ("high", "low"):
        return ParsedCommand(verb, (ref,), text=urgency.lower())
    said = f"`{escape(bounded(urgency, 'an urgency'))}` is not an urgency. " if urgency else ""
    raise UsageError(f"{said}Urgency is `high` or `low`: `/incident urgency 123 low`.")


def _title(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    title = checked_text(words.rest(), "title")
    if not title:
        raise UsageError("The new title is empty: `/incident title 123 checkout down in eu-west`.")
    return ParsedCommand(verb, (ref,), text=title)


def _bridge(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    url, number = parse_bridge(as_typed(words.take() or ""), words.rest())
    return ParsedCommand(verb, (ref,), text=url, dial_in=number)


def _snooze(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    duration = words.take()
    if duration is None or words.peek() is not None:
        raise UsageError(f"Say for how long: `/incident snooze 123 2h`; {DURATION_HELP}.")
    return ParsedCommand(verb, (ref,), seconds=parse_duration(duration))


def _merge(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    usage = "`/incident merge 124 125 into 123`"
    sources = [ref]
    while (word := words.take()) is not None and word.lower() != "into":
        if len(sources) == MAX_MERGE_SOURCES:
            raise UsageError(f"Merge at most {MAX_MERGE_SOURCES} incidents at once.")
        sources.append(parse_ref(word))
    last = words.take()
    if word is None or last is None or words.peek() is not None:
        raise UsageError(f"Say which incident to merge into, last: {usage}.")
    target = parse_ref(last)
    if target in sources:
        raise UsageError(f"An incident cannot be merged into itself ({escape(target)}).")
    return ParsedCommand(verb, (target,), sources=tuple(dict.fromkeys(sources)))


def _page(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    targets: list[str] = []
    while (head := words.peek()) is not None and len(targets) < MAX_PAGE_TARGETS:
        bounded(head, "a person or policy")
        if MENTION.fullmatch(head) or EMAIL.fullmatch(head) or POLICY_ID.fullmatch(head):
            targets.append(words.take() or "")
        elif head[0] in OPENING_QUOTES or not targets:
            # An unquoted bare word is a policy's name only as the first target.
            targets.append(f'"{quoted_name(words)}"')
        else:
            break
    if not targets:
        raise UsageError(
            "Say whom to page: `/incident page 123 @bob` or `/incident page 123 "
            '"SRE primary" please join`.'
        )
    message = checked_text(words.rest(), "message")
    return ParsedCommand(verb, (ref,), targets=tuple(targets), text=message)


def _update(verb: Verb, ref: str, words: Words) -> ParsedCommand:
    message = checked_text(words.rest(), "status update")
    if not message:
        raise UsageError(
            "The status update is empty: `/incident update 123 rolled back, errors falling`."
        )
    return ParsedCommand(verb, (ref,), text=message)


def _oncall(verb: Verb, words: Words) -> ParsedCommand:
    """The whole rest is the name, quoted or not."""
    name = words.rest()
    if name[:1] in OPENING_QUOTES and name[-1:] in CLOSING_QUOTES:
        name = name[1:-1].strip()
    return ParsedCommand(verb, target=bounded(name, "a policy or service name"))


def _mine(verb: Verb, words: Words) -> ParsedCommand:
    if words.peek() is not None:
        raise UsageError("`mine` takes nothing more: `/incident mine`.")
    return ParsedCommand(verb)


def _trigger(verb: Verb, words: Words) -> ParsedCommand:
    service = quoted_name(words)
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
    Verb.PRIORITY: _priority,
    Verb.URGENCY: _urgency,
    Verb.TITLE: _title,
    Verb.BRIDGE: _bridge,
    Verb.SNOOZE: _snooze,
    Verb.MERGE: _merge,
    Verb.PAGE: _page,
    Verb.UPDATE: _update,
}
