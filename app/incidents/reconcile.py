"""The reconciler: now and then, bring every open card to PagerDuty's state, for changes
no webhook told us about (the bot was down, a webhook was lost).

It follows changes, not cards: one paginated listing of the open incidents (100 a page),
each card drawn from its listed incident (with the open cards' last actions and status
updates, read at once) and compared with what its message shows (the digests stored with
every post and update, read at once too);
only cards that differ are redrawn, from a fresh read under the incident's lock. An
incident with cards that is not in the listing was resolved or deleted (or slipped between
pages): it is read on its own.
"""

import logging
from datetime import timedelta

from app.incidents.cards import IncidentCards, OpenCardsStored, card_digest
from app.incidents.locks import IncidentLocks
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import IncidentNotFound
from app.pagerduty.models import Incident
from app.store import CardRef, Store

logger = logging.getLogger(__name__)

RECONCILER = "reconciler"


class Reconciler:
    """Give it `cards`, `locks` and a `pagerduty` client for the background budget."""

    def __init__(
        self,
        *,
        cards: IncidentCards,
        locks: IncidentLocks,
        pagerduty: PagerDutyClient,
        store: Store,
        holder: str,
    ) -> None:
        self.cards = cards
        self.locks = locks
        self.pagerduty = pagerduty
        self.store = store
        self.holder = holder

    async def reconcile(self, *, lease: timedelta) -> int:
        """Redraw the open cards whose incident changed: one replica per `lease`; returns
        how many cards were redrawn."""
        if not await self.store.try_lease(RECONCILER, self.holder, lease):
            return 0
        open_cards = await self.store.open_cards()
        if not open_cards:
            return 0
        listed = {incident.id: incident for incident in await self.pagerduty.list_open_incidents()}
        stored = await self.cards.stored_for_open_cards()
        redrawn = 0
        for incident_id, refs in open_cards.items():
            incident = listed.get(incident_id)
            if incident is not None:
                refs = await self._showing_other_than(incident, refs, stored)
            if refs:
                redrawn += await self._redraw(incident_id, refs)
        return redrawn

    async def release(self) -> None:
        """At shutdown: let another replica (or this one restarted) reconcile at once."""
        await self.store.release_lease(RECONCILER, self.holder)

    async def _showing_other_than(
        self,
        incident: Incident,
        refs: list[CardRef],
        stored: OpenCardsStored,
    ) -> list[CardRef]:
        digest = card_digest(await self.cards.card_for(incident, stored=stored))
        return [ref for ref in refs if stored.digests.get(ref) != digest]

    async def _redraw(self, incident_id: str, refs: list[CardRef]) -> int:
        """Redraw `refs` from a fresh read, under the incident's lock so a click being
        handled now is not overdrawn by an older state."""
        try:
            async with self.locks.fresh(incident_id) as incident:
                return await self._redraw_at(incident_id, incident, refs)
        except IncidentNotFound:
            return await self._redraw_at(incident_id, None, refs)

    async def _redraw_at(
        self, incident_id: str, incident: Incident | None, refs: list[CardRef]
    ) -> int:
        card = await self.cards.drawn(incident, incident_id)
        for ref in refs:
            if problem := await self.cards.update_if_changed(ref, card):
                logger.warning("reconcile could not redraw a card: %s", problem)
        if incident is None or incident.status == "resolved":
            await self.store.mark_cards_closed(incident_id)
        return len(refs)
