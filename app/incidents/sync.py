"""Keeping cards in step with PagerDuty when the change did not come through the bot: the
webhook inbox (`inbox`) and the reconciler (`reconcile`), run by one background worker.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import timedelta

from app.channel_routes import ChannelRoutes
from app.errors import BotError
from app.incidents.cards import IncidentCards
from app.incidents.inbox import CardInbox
from app.incidents.locks import IncidentLocks
from app.incidents.new_cards import NewCards
from app.incidents.outcomes import RecentActions
from app.incidents.reconcile import Reconciler
from app.pagerduty.client import PagerDutyClient
from app.posting_queue import ChannelPostingQueue
from app.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)

CLAIMS_KEPT = timedelta(days=1)


class CardSync:
    """Runs in the background: give it `locks`, `cards` and `pagerduty` that read through
    the background client (`PagerDutyClient.background()`), so it never takes a person's
    budget."""

    def __init__(
        self,
        *,
        cards: IncidentCards,
        locks: IncidentLocks,
        pagerduty: PagerDutyClient,
        recent: RecentActions,
        store: Store,
        routes: ChannelRoutes,
        posting: ChannelPostingQueue,
        holder: str,
        lease: timedelta,
    ) -> None:
        self.recent = recent
        self.store = store
        new_cards = NewCards(
            cards=cards, locks=locks, store=store, posting=posting, holder=holder, lease=lease
        )
        self.inbox = CardInbox(
            cards=cards,
            locks=locks,
            new_cards=new_cards,
            recent=recent,
            store=store,
            routes=routes,
            holder=holder,
            lease=lease,
        )
        self.reconciler = Reconciler(
            cards=cards, locks=locks, pagerduty=pagerduty, store=store, holder=holder
        )
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, *, poll_seconds: float, reconcile_seconds: float) -> None:
        """The background worker, started once the bot is ready. The inbox is taken at
        once (stored events), then whenever woken or every `poll_seconds` (retries, other
        replicas' leftovers); beside it, the reconciler at once and every
        `reconcile_seconds`, so a long reconcile never delays a new card. Cancelling it
        stops the events in hand; they stay in the store for later."""
        try:
            await asyncio.gather(
                self._take_inbox(poll_seconds),
                self._renew_leases(),
                self._reconcile_every(reconcile_seconds),
            )
        finally:
            await self.inbox.close()

    async def _take_inbox(self, poll_seconds: float) -> None:
        while True:
            self._wake.clear()
            await self._guarded(self.inbox.take())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=poll_seconds)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.inbox.lease.total_seconds() / 3)
            await self._guarded(self.inbox.renew())

    async def _reconcile_every(self, reconcile_seconds: float) -> None:
        while True:
            await self._guarded(self._reconcile(reconcile_seconds))
            await asyncio.sleep(reconcile_seconds)

    async def _reconcile(self, reconcile_seconds: float) -> None:
        await self.reconciler.reconcile(lease=timedelta(seconds=reconcile_seconds))
        # Slack retries an event for about an hour; a day of dedupe keys is plenty.
        await self.store.prune(older_than=CLAIMS_KEPT)
        await self.store.forget_expired()  # RETENTION_* settings
        await self.recent.forget_old()

    @staticmethod
    async def _guarded(step: Awaitable[object]) -> None:
        try:
            await step
        except (StoreUnavailable, BotError) as error:
            logger.warning("card sync paused: %s", error)
        except Exception:  # the worker must outlive any one bad event or bug
            logger.exception("card sync failed; retrying")

    async def release(self) -> None:
        """At shutdown: let another replica (or this one restarted) reconcile at once."""
        with contextlib.suppress(StoreUnavailable):
            await self.reconciler.release()
