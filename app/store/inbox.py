"""The PagerDuty webhook inbox: an event is recorded before it is answered, then leased by
one worker at a time, renewed while it works, and finished or retried later.

`Store` inherits these; the plumbing they read and write through is `StorePlumbing`'s.
"""

from collections.abc import Collection
from datetime import timedelta

import sqlalchemy as sa

from app.store.group_commit import GroupCommit, first_arrivals, first_inserted
from app.store.plumbing import StorePlumbing, utc_now
from app.store.records import PendingEvent
from app.store.schema import events


class WebhookInbox(StorePlumbing):
    def __init__(self) -> None:
        self._accepting = GroupCommit(self._insert_events)

    async def accept_event(self, event_id: str, body: str) -> bool:
        """Record a webhook before answering it; False if that id was already accepted.
        Webhooks arriving together (a storm) share one transaction."""
        return await self._accepting((event_id, body))

    async def _insert_events(self, received: list[tuple[str, str]]) -> list[bool]:
        """Each event inserted unless its id is stored already (a redelivery, perhaps to
        another replica at this moment) or came earlier in this batch; True for each one
        this call stored. Events are applied in the order of `received_at`, so each one in
        the batch is a microsecond after the one before.

        One INSERT for the batch: SQLAlchemy 2.0 compiles an ON CONFLICT statement at every
        execution (it is never cached), which would cost more than the row itself."""
        now = utc_now()
        ids = [event_id for event_id, _ in received]
        first = first_arrivals(ids)
        rows = [
            {
                "event_id": event_id,
                "received_at": now + timedelta(microseconds=arrived),
                "attempts": 0,
                "body": received[arrived][1],
            }
            for event_id, arrived in first.items()
        ]
        insert = self._insert(events).values(rows).on_conflict_do_nothing()
        async with self._transaction() as conn:
            stored = await conn.execute(insert.returning(events.c.event_id))
            inserted = set(stored.scalars())
        return first_inserted(ids, first, inserted)

    async def pending_events(
        self, *, limit: int = 100, unleased: bool = False, besides: Collection[str] = ()
    ) -> list[PendingEvent]:
        """Events not yet finished, oldest first; with `unleased`, only those no holder is
        working on; never those in `besides` (a worker's own in hand, which would otherwise
        hide the rest once their leases ran out)."""
        pending: sa.ColumnElement[bool] = events.c.done_at.is_(None)
        if unleased:
            pending = pending & sa.or_(
                events.c.lease_until.is_(None), events.c.lease_until <= utc_now()
            )
        if besides:
            pending = pending & events.c.event_id.not_in(list(besides))
        rows = await self._rows(
            sa.select(events.c.event_id, events.c.received_at, events.c.attempts, events.c.body)
            .where(pending)
            .order_by(events.c.received_at, events.c.event_id)
            .limit(max(limit, 0))
        )
        return [PendingEvent(row.event_id, row.received_at, row.attempts, row.body) for row in rows]

    async def take_event(self, event_id: str, holder: str, lease: timedelta) -> bool:
        """Lease an event for processing (or renew one's own lease); False if it is done or
        another holder's lease is live."""
        now = utc_now()
        free = sa.or_(
            events.c.holder.is_(None), events.c.holder == holder, events.c.lease_until <= now
        )
        return (
            await self._count(
                sa.update(events)
                .where(events.c.event_id == event_id, events.c.done_at.is_(None), free)
                .values(holder=holder, lease_until=now + lease)
            )
            == 1
        )

    async def renew_events(self, holder: str, lease: timedelta) -> int:
        """Extend every lease `holder` has on unfinished events: it is alive and at them."""
        return await self._count(
            sa.update(events)
            .where(events.c.holder == holder, events.c.done_at.is_(None))
            .values(lease_until=utc_now() + lease)
        )

    async def release_events(self, holder: str) -> int:
        """Give up `holder`'s unfinished events (at shutdown), so others take them at once."""
        return await self._count(
            sa.update(events)
            .where(events.c.holder == holder, events.c.done_at.is_(None))
            .values(holder=None, lease_until=None)
        )

    async def finish_event(self, event_id: str) -> None:
        await self._count(
            sa.update(events)
            .where(events.c.event_id == event_id)
            .values(done_at=utc_now(), holder=None, lease_until=None)
        )

    async def retry_event_later(self, event_id: str) -> None:
        """Count a failed attempt and release the lease; the event stays pending."""
        await self._count(
            sa.update(events)
            .where(events.c.event_id == event_id, events.c.done_at.is_(None))
            .values(attempts=events.c.attempts + 1, holder=None, lease_until=None)
        )
