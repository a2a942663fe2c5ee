"""What an action did and how it is said: the `Outcome` of an action, the `Reply` a way in
delivers, and the recent actions a card shows ("Alice Adams acknowledged 2 min ago")."""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.blocks.card import LastAction
from app.identity import VerifiedUser
from app.incidents.grammar import Verb
from app.mrkdwn import escape, link
from app.pagerduty.models import Incident
from app.store import LastAction as StoredAction
from app.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)

# PagerDuty's webhook about our own write arrives within seconds; two minutes is generous.
ECHO_WINDOW = timedelta(minutes=2)


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
class EscalationPreview:
    """What the escalate shortcut's modal shows before anything is done."""

    incident_id: str
    about: str  # mrkdwn: the incident and where it stands on its policy
    next_level: int | None  # None: where it stands is unclear, so the person must say


@dataclass(frozen=True)
class Outcome:
    """A change PagerDuty accepted (or, for `show`, a read), and how to say it."""

    actor: VerifiedUser
    incident: Incident  # as PagerDuty answered
    verb: Verb
    detail: str = ""  # mrkdwn-safe, e.g. " to level 2 (Bob Builder)"
    note: str = ""  # as typed; escaped when shown
    private: tuple[str, ...] = ()
    merged: tuple[Incident, ...] = ()  # merge: the incidents now part of `incident`

    @property
    def announcement(self) -> str:
        """'Alice Adams resolved #123 db down: fixed db' for the channel. The actor is named,
        not mentioned: nobody is pinged for what they did themselves."""
        said = f": {escape(self.note)}" if self.note else "."
        return (
            f"{self.actor_name} {self.verb.past} {incident_link(self.incident)}{self.detail}{said}"
        )

    @property
    def thread_line(self) -> str:
        """'Alice Adams resolved: fixed db' under the card, whose incident needs no naming."""
        said = f": {escape(self.note)}" if self.note else ""
        return f"{self.actor_name} {self.verb.done}{self.detail}{said}"

    @property
    def last_action(self) -> LastAction:
        return LastAction(
            self.actor.pagerduty.name, f"{self.verb.done}{self.detail}", datetime.now(UTC)
        )

    @property
    def actor_name(self) -> str:
        return escape(self.actor.pagerduty.name)


class RecentActions:
    """What was last done to each incident through the bot (any replica, any process
    before this one), for its card; and the actions we are taking, so that PagerDuty's
    webhook repeating one is recognised as our own echo. Both live in the store."""

    def __init__(self, store: Store, *, echo_window: timedelta = ECHO_WINDOW) -> None:
        self._store = store
        self._echo_window = echo_window

    async def record(self, outcome: Outcome) -> None:
        """After an action: the card's last action, and (for actions whose write did not
        say so beforehand, `about_to`) that its webhook is our echo. The action is done in
        PagerDuty by now: a store that fails here costs the card's line, not the answer."""
        action = outcome.last_action
        stored = StoredAction(action.who, outcome.verb.value, outcome.detail, action.at)
        try:
            await self._store.record_own_action(outcome.incident.id, stored)
        except StoreUnavailable:
            logger.warning(
                "done, but not recorded as the card's last action: the store is unavailable",
                extra={"incident": outcome.incident.id, "verb": str(outcome.verb)},
            )

    async def last(self, incident_id: str) -> LastAction | None:
        stored = await self._store.last_action(incident_id)
        return _as_shown(stored) if stored else None

    async def of_open_cards(self) -> dict[str, LastAction]:
        """Every incident with an open card's last action, read at once (bulk reconcile)."""
        stored = await self._store.last_actions_with_open_cards()
        return {incident_id: _as_shown(action) for incident_id, action in stored.items()}

    async def about_to(self, incident_id: str, verb: Verb) -> None:
        """Before our write to PagerDuty: its webhook will be an echo."""
        await self._store.note_own_action(incident_id, verb.value)

    async def just_did(self, incident_id: str, verb: Verb) -> bool:
        """Whether we ourselves (any replica) `verb`-ed the incident within the echo
        window, so a webhook about it repeats what the card's thread already says."""
        return await self._store.is_own_echo(incident_id, verb.value, self._echo_window)

    async def forget_old(self) -> int:
        return await self._store.forget_own_actions(older_than=self._echo_window * 2)


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


def _as_shown(stored: StoredAction) -> LastAction:
    try:
        did = Verb(stored.verb).done
    except ValueError:  # a verb this version does not know (a newer replica's)
        did = escape(stored.verb)
    return LastAction(stored.actor, f"{did}{stored.detail}", stored.at)
