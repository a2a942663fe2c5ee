"""The webhook inbox: events PagerDuty sent, stored before they were answered (so an
accepted event survives a crash), applied in order per incident and concurrently across
incidents, so one incident's (or one channel's) slow Slack call never holds up another's.

Every card is drawn from a fresh read of the incident, never from the event's data, so
events that arrive twice or out of order still leave the card at PagerDuty's state.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable
from datetime import timedelta

from app.channel_routes import ChannelRoutes
from app.errors import BotError, SlackUnavailable
from app.incidents.cards import IncidentCards
from app.incidents.grammar import Verb
from app.incidents.locks import IncidentLocks
from app.incidents.new_cards import NewCards
from app.incidents.outcomes import RecentActions
from app.metrics import WEBHOOK_EVENTS
from app.mrkdwn import escape
from app.pagerduty.errors import IncidentNotFound, PagerDutyUnavailable
from app.pagerduty.models import Incident
from app.pagerduty.webhooks import WebhookEvent, WebhookRejected, parse_event
from app.store import CardRef, PendingEvent, Store, StoreUnavailable

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 100  # events taken per store query
# Incidents applied at once (each holds a store connection for its lock on PostgreSQL).
# Cards waiting for their channel's turn do not count.
CONCURRENT_INCIDENTS = 8
# A note or status update is quoted in the thread up to this many characters; the card's
# link leads to the rest.
DETAIL_SHOWN = 500

# What each event type says in the card's thread ("Bob Builder acknowledged").
_SAID = {
    "incident.acknowledged": "acknowledged",
    "incident.unacknowledged": "un-acknowledged (the acknowledgement timed out)",
    "incident.resolved": "resolved",
    "incident.reopened": "reopened",
    "incident.escalated": "escalated",
    "incident.reassigned": "reassigned",
    "incident.delegated": "delegated",
    "incident.priority_updated": "changed the priority",
    "incident.annotated": "added a note",
    "incident.responder.added": "asked for a responder",
    "incident.responder.replied": "answered a request to respond",
    "incident.status_update_published": "published a status update",
}
# The events that report an action the bot itself may just have taken.
_ECHOES = {
    "incident.acknowledged": Verb.ACK,
    "incident.resolved": Verb.RESOLVE,
    "incident.escalated": Verb.ESCALATE,
    "incident.reassigned": Verb.REASSIGN,
    "incident.annotated": Verb.NOTE,
    "incident.responder.added": Verb.PAGE,
    "incident.status_update_published": Verb.UPDATE,
}


class CardInbox:
    """Give it `locks`, `cards` and `new_cards` that read PagerDuty through the background
    client (`PagerDutyClient.background()`), so it never takes a person's budget."""

    def __init__(
        self,
        *,
        cards: IncidentCards,
        locks: IncidentLocks,
        new_cards: NewCards,
        recent: RecentActions,
        store: Store,
        routes: ChannelRoutes,
        holder: str,
        lease: timedelta,
    ) -> None:
        self.cards = cards
        self.locks = locks
        self.new_cards = new_cards
        self.recent = recent
        self.store = store
        self.routes = routes
        self.holder = holder
        self.lease = lease
        self._waiting: dict[str, deque[tuple[PendingEvent, WebhookEvent | None]]] = {}
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._in_hand: set[str] = set()  # event ids taken and not yet settled
        self._applying = asyncio.Semaphore(CONCURRENT_INCIDENTS)

    async def take(self) -> int:
        """Queue every pending event no one is working on in its incident's lane (they
        are applied in the background); returns how many. Each is leased when its turn
        comes, and the leases are renewed (`renew`) while this process lives."""
        taken = 0
        while True:
            batch = await self.store.pending_events(
                limit=BATCH, unleased=True, besides=self._in_hand
            )
            for pending in batch:
                self._dispatch(pending)
            taken += len(batch)
            if len(batch) < BATCH:
                return taken

    async def renew(self) -> None:
        """Keep the leases of the events in hand: a process that dies stops renewing,
        and others take its events once `lease` has passed."""
        if self._in_hand:
            await self.store.renew_events(self.holder, self.lease)

    async def close(self) -> None:
        """Stop applying: the events in hand go back to the store for another process."""
        lanes = list(self._lanes.values())
        for lane in lanes:
            lane.cancel()
        for lane in lanes:
            with contextlib.suppress(asyncio.CancelledError):
                await lane
        with contextlib.suppress(StoreUnavailable):
            await self.store.release_events(self.holder)

    def _dispatch(self, pending: PendingEvent) -> None:
        try:
            event: WebhookEvent | None = parse_event(pending.body)
        except WebhookRejected:
            logger.error("stored webhook event is unreadable", extra={"event": pending.event_id})
            event = None
        key = (event.incident_id if event else None) or pending.event_id
        self._in_hand.add(pending.event_id)
        self._waiting.setdefault(key, deque()).append((pending, event))
        if key not in self._lanes:
            self._lanes[key] = asyncio.create_task(self._lane(key), name=f"inbox:{key}")

    async def _lane(self, key: str) -> None:
        """One incident's events, one at a time, in the order they were received."""
        waiting = self._waiting[key]
        try:
            while waiting:
                pending, event = waiting.popleft()
                try:
                    await self._settle(pending, event)
                finally:
                    self._in_hand.discard(pending.event_id)
        finally:
            for pending, _ in self._waiting.pop(key, ()):
                self._in_hand.discard(pending.event_id)
            self._lanes.pop(key, None)

    async def _settle(self, pending: PendingEvent, event: WebhookEvent | None) -> None:
        try:
            # Its turn has come: renew the lease, which may have run out while it waited;
            # if another replica has taken it since, it is theirs.
            if not await self.store.take_event(pending.event_id, self.holder, self.lease):
                return
            if event is not None:
                await self.apply(event)
        except (SlackUnavailable, PagerDutyUnavailable) as error:
            if pending.attempts + 1 < MAX_ATTEMPTS:
                logger.warning("event will be retried: %s", error)
                await self.store.retry_event_later(pending.event_id)
                return
            logger.error("event dropped after %d attempts: %s", MAX_ATTEMPTS, error)
            WEBHOOK_EVENTS.labels("dropped").inc()
        except (StoreUnavailable, BotError) as error:
            logger.warning("event left for later: %s", error)
            return  # its lease runs out and it is taken again
        except Exception:  # one bad event must not stop the others
            logger.exception("applying an event failed; it will be retried")
            return
        await self.store.finish_event(pending.event_id)
        WEBHOOK_EVENTS.labels("processed").inc()

    async def apply(self, event: WebhookEvent) -> None:
        incident_id = event.incident_id
        if incident_id is None or not event.event_type.startswith("incident."):
            return  # accepted and ignored: PagerDuty sends more than we draw
        if (update := event.status_update) is not None:
            # Kept even when no card shows the incident yet: a card posted later shows it.
            await self.cards.status_updates.record(incident_id, update)
        posted = None
        if event.event_type == "incident.triggered":
            channel = await self._channel_of(event, incident_id)
            if channel is not None:
                posted = await self.new_cards.post(incident_id, channel)
        refs = [ref for ref in await self.store.cards_for(incident_id) if ref != posted]
        if not refs:
            return  # no card shows it (or only the one just drawn): nothing to read
        async with self._applying:
            lines = await self._redraw(event, incident_id, refs)
        # Thread lines wait for their channel's turn outside the incident's lock.
        for ref, line in lines:
            await _or_retry_later(self.new_cards.reply_in_turn(ref, line))

    async def _channel_of(self, event: WebhookEvent, incident_id: str) -> str | None:
        service = event.data.get("service")
        service_id = service.get("id") if isinstance(service, dict) else None
        if not isinstance(service_id, str) or not service_id:
            async with self._applying, self.locks.fresh(incident_id) as incident:
                service_id = incident.service.id
        return self.routes.channel_for(service_id)

    async def _redraw(
        self, event: WebhookEvent, incident_id: str, refs: list[CardRef]
    ) -> list[tuple[CardRef, str]]:
        """Redraw `refs` from a fresh read; returns the thread lines to post."""
        try:
            # Under the incident's lock, so a click being handled now cannot be overdrawn
            # by a card rendered from an older read.
            async with self.locks.fresh(incident_id) as incident:
                return await self._redraw_at(event, incident, refs)
        except IncidentNotFound:
            card = await self.cards.drawn(None, incident_id)
            for ref in refs:
                await _or_retry_later(self.cards.update_if_changed(ref, card))
            await self.store.mark_cards_closed(incident_id)
            return []

    async def _redraw_at(
        self, event: WebhookEvent, incident: Incident, refs: list[CardRef]
    ) -> list[tuple[CardRef, str]]:
        card = await self.cards.card_for(incident)
        said = _SAID.get(event.event_type)
        echo = _ECHOES.get(event.event_type)
        if said and echo is not None and await self.recent.just_did(incident.id, echo):
            said = None  # PagerDuty telling us what we did ourselves: the thread has it
        for ref in refs:
            await _or_retry_later(self.cards.update_if_changed(ref, card))
        if incident.status == "resolved":
            await self.store.mark_cards_closed(incident.id)
        return [(ref, _thread_line(event, said)) for ref in refs] if said else []


async def _or_retry_later(call: Awaitable[str | None]) -> None:
    problem = await call
    if problem is not None:
        raise SlackUnavailable(problem)


def _thread_line(event: WebhookEvent, said: str) -> str:
    """ "Bob Builder added a note (in PagerDuty): the text", escaped for Slack."""
    who = escape(event.agent.summary) if event.agent and event.agent.summary else ""
    line = f"{who or 'PagerDuty'} {said} (in PagerDuty)"
    detail = event.detail.strip()
    if not detail:
        return line
    if len(detail) > DETAIL_SHOWN:
        detail = detail[:DETAIL_SHOWN].rstrip() + "…"
    return f"{line}: {escape(detail)}"
