"""The pieces of what people type, read safely: Slack's escaping undone, one word at a
time with the rest kept exactly as typed, and each kind of token (incident ref, level,
duration, bridge, quoted name) checked. Pure: no I/O.

Every pattern here is applied only to one bounded token (`MAX_TOKEN_CHARS`) and has no
nested or overlapping repetition, so matching stays linear even on hostile words.
"""

import re
from typing import Any

from app.errors import UsageError
from app.mrkdwn import escape, text_of_blocks
from app.pagerduty.operations import MAX_SNOOZE_SECONDS

# Long enough for any resolution or hand-over note, short enough to echo in one Slack
# section (3,000 chars) with room for who/what, and far under PagerDuty's limits.
MAX_TEXT_CHARS = 2000
MAX_TOKEN_CHARS = 300
_NUMBER = re.compile(r"#?([1-9][0-9]{0,9})")
INCIDENT_ID = re.compile(r"[A-Z0-9]{6,20}")
_INCIDENT_URL = re.compile(
    r"https://[a-z0-9-]+\.(?:eu\.)?pagerduty\.com/incidents/([A-Z0-9]{6,20})/?", re.IGNORECASE
)
LEVEL_LIKE = re.compile(r"[+-]?[0-9][0-9.,]*")
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
# Domain labels are separated by single dots, so there is one way to match: linear.
EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|.]+(?:\.[^@\s<>|.]+)+")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)(?:\|[^>]*)?>")
_WORD = re.compile(r"\S+")
# Slack escapes exactly these three in command and message text (not in modal inputs).
_SLACK_ESCAPE = re.compile(r"&(amp|lt|gt);")
_SLACK_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}


def message_as_typed(message: dict[str, Any]) -> str:
    """A Slack message's text as its author typed it; a message posted with blocks only
    (by an app, say) has an empty `text`, so its blocks are read instead."""
    escaped = str(message.get("text") or "").strip() or text_of_blocks(message.get("blocks") or [])
    return as_typed(escaped)


def as_typed(slack_text: str) -> str:
    """What the person typed, from Slack's command or message text: `&amp;` `&lt;` `&gt;`
    decoded in one pass (so a typed `&amp;lt;` stays `&lt;`); nothing else is touched."""
    return _SLACK_ESCAPE.sub(lambda m: _SLACK_UNESCAPED[m.group(1)], slack_text)


class Words:
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


def bounded(token: str, what: str) -> str:
    if len(token) > MAX_TOKEN_CHARS:
        raise UsageError(
            f"`{escape(token[:40])}…` is {len(token)} characters long: too long for {what}."
        )
    return token


def parse_ref(token: str) -> str:
    """An incident number (as digits) or id, from any accepted spelling."""
    link = _SLACK_LINK.fullmatch(bounded(token, "an incident"))
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


def parse_level(token: str) -> int:
    if len(token) > 3 or not (token.isascii() and token.isdigit()) or int(token) < 1:
        raise UsageError(
            f"`{escape(bounded(token, 'a level'))}` is not an escalation level: use a whole "
            "number from 1 (levels count from 1, as in PagerDuty)."
        )
    return int(token)


def unquoted(name: str) -> str:
    """A name as typed, without the straight or curly quotes around it."""
    if len(name) >= 2 and name[0] in OPENING_QUOTES and name[-1] in CLOSING_QUOTES:
        return name[1:-1].strip()
    return name


# Straight or curly quotes, as phones and Slack's editor type them.
OPENING_QUOTES = '"\u201c\u201d\u201e'
CLOSING_QUOTES = '"\u201d\u201c'
MIN_SNOOZE_SECONDS = 60
_DURATION = re.compile(r"(?:([0-9]{1,4})d)?(?:([0-9]{1,4})h)?(?:([0-9]{1,6})m)?", re.IGNORECASE)
DURATION_HELP = "use minutes, hours or days like `30m`, `2h`, `1h30m` or `1d`"
_PHONE = re.compile(r"[0-9 +\-(),#]{1,64}")
_URL = re.compile(r"<?(https?://[^\s|<>]+)(?:\|[^>]*)?>?", re.IGNORECASE)


def parse_duration(token: str) -> int:
    """Seconds, from `30m`, `2h`, `1h30m`, `1d`: 1 minute to 7 days."""
    parts = _DURATION.fullmatch(bounded(token, "a duration"))
    if not token or parts is None:
        raise UsageError(f"`{escape(token)}` is not a duration: {DURATION_HELP}.")
    days, hours, minutes = (int(part or 0) for part in parts.groups())
    seconds = ((days * 24 + hours) * 60 + minutes) * 60
    if seconds < MIN_SNOOZE_SECONDS:
        raise UsageError(f"A snooze lasts at least 1 minute; `{escape(token)}` is shorter.")
    if seconds > MAX_SNOOZE_SECONDS:
        raise UsageError(f"A snooze lasts at most 7 days; `{escape(token)}` is longer.")
    return seconds


def parse_bridge(url: str, number: str) -> tuple[str, str]:
    """An `https` link (as typed, or as Slack formats it: `<https://…|…>`) and a dial-in
    number of digits, spaces and `+ - ( ) , #`, which may be empty."""
    usage = "`/incident bridge 123 https://meet.example.com/abc [+1 555 0100,,123#]`"
    link = _URL.fullmatch(bounded(url, "a link"))
    if link is None or not link.group(1).lower().startswith("https://"):
        said = f"`{escape(url)}` is not an https link. " if url else ""
        raise UsageError(f"{said}A conference bridge is an `https://` link: {usage}.")
    if number and not (_PHONE.fullmatch(number) and any(c.isdigit() for c in number)):
        raise UsageError(
            f"`{escape(number[:100])}` is not a dial-in number: use digits, spaces and "
            f"`+ - ( ) , #` only: {usage}."
        )
    return checked_text(link.group(1), "link"), number


# A policy's id as PagerDuty writes it (PEPOL01, PABC123): capitals with a digit.
POLICY_ID = re.compile(r"(?=[A-Z]*[0-9])[A-Z0-9]{7,20}")
MAX_NAME_WORDS = 20


def quoted_name(words: Words) -> str:
    """A name at the head of `words`: one word, or several in straight or curly quotes."""
    first = words.take()
    if first is None:
        return ""
    if first[0] not in OPENING_QUOTES:
        return as_typed(bounded(first, "a name"))
    taken = [bounded(first, "a name")]
    while not (taken[-1][-1] in CLOSING_QUOTES and (len(taken) > 1 or len(first) > 1)):
        word = words.take()
        if word is None or len(taken) == MAX_NAME_WORDS:
            raise UsageError(f"The name {escape(' '.join(taken)[:80])} has no closing quote.")
        taken.append(bounded(word, "a name"))
    return as_typed(" ".join(taken)[1:-1].strip())
