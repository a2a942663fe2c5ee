"""What the store keeps, as plain values. Every datetime is aware and in UTC."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work; never carries the URL."""


@dataclass(frozen=True)
class CardRef:
    """A Slack message holding an incident card."""

    channel: str
    ts: str


@dataclass(frozen=True)
class AuditEntry:
    """One action attempted through the bot, whatever came of it."""

    at: datetime
    slack_user_id: str
    verb: str
    incident: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class PendingEvent:
    """A PagerDuty webhook accepted but not yet processed."""

    event_id: str
    received_at: datetime
    attempts: int
    body: str


@dataclass(frozen=True)
class Retention:
    """How long history is kept (RETENTION_EVENT_DAYS, RETENTION_AUDIT_DAYS): webhook
    events with their stored bodies, finished or not, and audit rows, by age. Status
    updates go with the events, once none of their incident's cards is open."""

    events: timedelta = timedelta(days=30)
    audit: timedelta = timedelta(days=365)


@dataclass(frozen=True)
class Forgotten:
    """What one `Store.forget_expired()` deleted."""

    events: int
    audit_rows: int
    status_updates: int = 0


@dataclass(frozen=True)
class LastAction:
    """What someone last did to an incident through the bot; the card shows it."""

    actor: str
    verb: str  # the Verb's value ("ack"), not display text
    detail: str
    at: datetime


@dataclass(frozen=True)
class PublishedUpdate:
    """A status update PagerDuty published on an incident, through the bot or not; the
    card shows the latest. `update_id` is PagerDuty's id for it ("" when not given)."""

    message: str
    created_at: datetime
    update_id: str = ""


class PostTurn(StrEnum):
    """What `Store.begin_post` lets the caller do about a new card."""

    POST = "post"  # nobody has tried: post, then `complete_post`
    RECOVER = "recover"  # an earlier try expired unfinished; it may have posted: search first
    BUSY = "busy"  # another holder is posting it now: leave it
    POSTED = "posted"  # the card exists already (in `PostDecision.card`)


@dataclass(frozen=True)
class PostDecision:
    turn: PostTurn
    card: CardRef | None = None
