"""What an action did and how it is said: the `Outcome` of an action, the `Reply` a way in
delivers, and the recent actions a card shows ("@alice acknowledged 2 min ago")."""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.blocks import LastAction
from app.identity import VerifiedUser
from app.incidents.grammar import Verb
from app.mrkdwn import escape, link
from app.pagerduty.models import Incident

_REMEMBERED = 10_000


@dataclass
class Reply:
    """What to tell Slack: `public` lines go to the channel, `private` to the person."""

    public: list[str] = field(default_factory=list)
    private: list[str] = field(default_factory=list)
    # Block Kit for the person alone (buttons), sent with the private lines as its text.
    private_blocks: list[dict[str, Any]] = field(default_factory=list)

    def __iadd__(self, other: "Reply") -> "Reply":
        self.public += other.public
        self.private += other.private
        self.private_blocks += other.private_blocks
        return self


@dataclass(frozen=True)
class Outcome:
    """A change PagerDuty accepted (or, for `show`, a read), and how to say it."""

    actor: VerifiedUser
    incident: Incident  # as PagerDuty answered
    verb: Verb
    detail: str = ""  # mrkdwn-safe, e.g. " to level 2 (Bob Builder)"
    note: str = ""  # as typed; escaped when shown
    private: tuple[str, ...] = ()

    @property
    def announcement(self) -> str:
        """'@alice resolved #123 db down: fixed db' for the channel."""
        said = f": {escape(self.note)}" if self.note else "."
        return (
            f"<@{self.actor.slack_user_id}> {self.verb.past} {incident_link(self.incident)}"
            f"{self.detail}{said}"
        )

    @property
    def thread_line(self) -> str:
        """'@alice resolved: fixed db' under the card, whose incident needs no naming."""
        said = f": {escape(self.note)}" if self.note else ""
        return f"<@{self.actor.slack_user_id}> {self.verb.past}{self.detail}{said}"

    @property
    def last_action(self) -> LastAction:
        return LastAction(
            self.actor.slack_user_id, f"{self.verb.past}{self.detail}", datetime.now(UTC)
        )


class RecentActions:
    """The last action taken through this process on each incident, with its verb, so a
    card can show it and a webhook repeating it can be recognised."""

    def __init__(self) -> None:
        self._last: OrderedDict[str, tuple[Verb, LastAction]] = OrderedDict()

    def record(self, outcome: Outcome) -> None:
        self._last[outcome.incident.id] = (outcome.verb, outcome.last_action)
        self._last.move_to_end(outcome.incident.id)
        if len(self._last) > _REMEMBERED:
            self._last.popitem(last=False)

    def last(self, incident_id: str) -> LastAction | None:
        entry = self._last.get(incident_id)
        return entry[1] if entry else None

    def just_did(self, incident_id: str, verb: Verb, within: float = 120) -> bool:
        """Whether we ourselves `verb`-ed the incident in the last `within` seconds (so a
        webhook about it repeats what the card's thread already says)."""
        entry = self._last.get(incident_id)
        if entry is None or entry[0] is not verb:
            return False
        return (datetime.now(UTC) - entry[1].at).total_seconds() < within


def incident_link(incident: Incident) -> str:
    return link(incident.html_url, f"#{incident.incident_number} {incident.title}")


def ago(when: datetime | None) -> str:
    if when is None:
        return ""
    seconds = max(0, int((datetime.now(UTC) - when).total_seconds()))
    if seconds < 60:
        return f" {seconds} s ago"
    if seconds < 3600:
        return f" {seconds // 60} min ago"
    return f" {seconds // 3600} h ago"
