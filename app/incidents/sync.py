"""Keeping cards in step with PagerDuty when the change did not come through the bot:
webhook events (processed from the store's inbox, so an accepted event survives a crash)
and a reconciler that redraws every open card now and then.

Every card is drawn from a fresh read of the incident, never from the event's data, so
events that arrive twice or out of order still leave the card at PagerDuty's state.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from app.channel_routes import ChannelRoutes
from app.errors import BotError, SlackUnavailable
from app.incidents.cards import IncidentCards
from app.incidents.grammar import Verb
from app.incidents.locks import IncidentLocks
from app.incidents.outcomes import RecentActions
from app.metrics import WEBHOOK_EVENTS
from app.mrkdwn import escape
from app.pagerduty.errors import IncidentNotFound, PagerDutyUnavailable
from app.pagerduty.models import Incident
from app.pagerduty.webhooks import WebhookEvent, WebhookRejected, parse_event
from app.store import CardRef, Store, StoreUnavailable

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIMS_KEPT = timedelta(days=1)
RECONCILER = "reconciler"
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


class CardSync:
    """Runs in the background: give it `locks` and `cards` that read PagerDuty through the
    background client (`PagerDutyClient.background()`), so it never takes a person's budget."""

    def __init__(
        self,
        *,
        cards: IncidentCards,
        locks: IncidentLocks,
        recent: RecentActions,
        store: Store,
        routes: ChannelRoutes,
        holder: str,
        lease: timedelta,
    ) -> None:
        self.cards = cards
        self.locks = locks
        self.recent = recent
        self.store = store
        self.routes = routes
        self.holder = holder  # this process, for leases
        self.lease = lease
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def catch_up(self, *, reconcile_seconds: float) -> None:
        """At start: finish what a previous process accepted, repair drifted cards."""
        await self._step(reconcile_seconds, reconcile=True)

    async def run(self, *, poll_seconds: float, reconcile_seconds: float) -> None:
        """The background worker: the inbox whenever woken or every `poll_seconds`
        (retries, other replicas' leftovers), the reconciler every `reconcile_seconds`."""
        loop = asyncio.get_running_loop()
        next_reconcile = loop.time() + reconcile_seconds
        while True:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)
            reconcile = loop.time() >= next_reconcile
            await self._step(reconcile_seconds, reconcile=reconcile)
            if reconcile:
                next_reconcile = loop.time() + reconcile_seconds

    async def _step(self, reconcile_seconds: float, *, reconcile: bool) -> None:
        try:
            await self.process_inbox()
            if reconcile:
                await self.reconcile(lease=timedelta(seconds=reconcile_seconds))
                # Slack retries an event for about an hour; a day of dedupe keys is plenty.
                await self.store.prune(older_than=CLAIMS_KEPT)
                await self.store.forget_expired()  # RETENTION_* settings
        except (StoreUnavailable, BotError) as error:
            logger.warning("card sync paused: %s", error)
        except Exception:  # the worker must outlive any one bad event or bug
            logger.exception("card sync failed; retrying")

    async def process_inbox(self) -> int:
        """Apply every pending event this process can take; returns how many finished."""
        finished = 0
        for pending in await self.store.pending_events():
            if not await self.store.take_event(pending.event_id, self.holder, self.lease):
                continue  # another replica has it
            try:
                await self.apply(parse_event(pending.body))
            except WebhookRejected:
                logger.error(
                    "stored webhook event is unreadable", extra={"event": pending.event_id}
                )
            except (SlackUnavailable, PagerDutyUnavailable) as error:
                if pending.attempts + 1 < MAX_ATTEMPTS:
                    logger.warning("event will be retried: %s", error)
                    await self.store.retry_event_later(pending.event_id)
                    continue
                logger.error("event dropped after %d attempts: %s", MAX_ATTEMPTS, error)
                WEBHOOK_EVENTS.labels("dropped").inc()
            await self.store.finish_event(pending.event_id)
            WEBHOOK_EVENTS.labels("processed").inc()
            finished += 1
        return finished

    async def apply(self, event: WebhookEvent) -> None:
        incident_id = event.incident_id
        if incident_id is None or not event.event_type.startswith("incident."):
            return  # accepted and ignored: PagerDuty sends more than we draw
        try:
            # Under the incident's lock, so a click being handled now cannot be overdrawn
            # by a card rendered from an older read.
            async with self.locks.fresh(incident_id) as incident:
                await self._redraw(event, incident)
        except IncidentNotFound:
            for ref in await self.store.cards_for(incident_id):
                await self._or_retry_later(self.cards.redraw(ref, None, incident_id))
            await self.store.mark_cards_closed(incident_id)

    async def _redraw(self, event: WebhookEvent, incident: Incident) -> None:
        card = await self.cards.card_for(incident)
        posted = None
        if event.event_type == "incident.triggered":
            posted = await self._post_new_card(incident, card)
        said = _SAID.get(event.event_type)
        echo = _ECHOES.get(event.event_type)
        if echo is not None and self.recent.just_did(incident.id, echo):
            said = None  # PagerDuty telling us what we did ourselves: the thread has it
        for ref in await self.store.cards_for(incident.id):
            if ref == posted:
                continue
            await self._or_retry_later(self.cards.update_quietly(ref, card))
            if said:
                line = _thread_line(event, said)
                await self._or_retry_later(self.cards.reply_quietly(ref, line))
        if incident.status == "resolved":
            await self.store.mark_cards_closed(incident.id)

    async def _post_new_card(self, incident: Incident, card: dict[str, Any]) -> CardRef | None:
        channel = self.routes.channel_for(incident.service.id)
        if channel is None or await self.store.find_card(incident.id, channel) is not None:
            return None
        try:
            return await self.cards.post(channel, incident.id, card)
        except BotError as error:
            raise SlackUnavailable(error.message) from None

    async def release(self) -> None:
        """At shutdown: let another replica (or this one restarted) reconcile at once."""
        with contextlib.suppress(StoreUnavailable):
            await self.store.release_lease(RECONCILER, self.holder)

    async def reconcile(self, *, lease: timedelta) -> int:
        """Redraw every open incident's cards from PagerDuty: one replica per `lease`."""
        if not await self.store.try_lease(RECONCILER, self.holder, lease):
            return 0
        redrawn = 0
        for incident_id in await self.store.open_incidents_with_cards():
            try:
                async with self.locks.fresh(incident_id) as incident:
                    redrawn += await self._redraw_all(incident_id, incident)
            except IncidentNotFound:
                redrawn += await self._redraw_all(incident_id, None)
        return redrawn

    async def _redraw_all(self, incident_id: str, incident: Incident | None) -> int:
        refs = await self.store.cards_for(incident_id)
        for ref in refs:
            await self.cards.redraw(ref, incident, incident_id)
        if incident is None or incident.status == "resolved":
            await self.store.mark_cards_closed(incident_id)
        return len(refs)

    @staticmethod
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
