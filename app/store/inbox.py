"""The PagerDuty webhook inbox: an event is recorded before it is answered, then leased by
one worker at a time, renewed while it works, and finished or retried later.

`Store` inherits these; the plumbing they read and write through is `StorePlumbing`'s.
"""

from collections.abc import Collection
from datetime import timedelta

from app.store.databases import placeholders, utc
from app.store.group_commit import GroupCommit, first_arrivals, first_inserted
from app.store.plumbing import StorePlumbing, utc_now
from app.store.records import PendingEvent


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
        the batch is a microsecond after the one before."""
        now = utc_now()
        ids = [event_id for event_id, _ in received]
        first = first_arrivals(ids)
        values = [
            value
            for event_id, arrived in first.items()
            for value in (
                event_id,
                now + timedelta(microseconds=arrived),
                0,  # attempts
                received[arrived][1],
            )
        ]
        async with self._transaction() as session:
            stored = await session.rows(
                "INSERT INTO events (event_id, received_at, attempts, body) "
                f"VALUES {placeholders(len(first), 4)} "
                "ON CONFLICT DO NOTHING RETURNING event_id",
                values,
            )
        return first_inserted(ids, first, {row["event_id"] for row in stored})

    async def pending_events(
        self, *, limit: int = 100, unleased: bool = False, besides: Collection[str] = ()
    ) -> list[PendingEvent]:
        """Events not yet finished, oldest first; with `unleased`, only those no holder is
        working on; never those in `besides` (a worker's own in hand, which would otherwise
        hide the rest once their leases ran out)."""
        where = ["done_at IS NULL"]
        params: list[object] = []
        if unleased:
            where.append("(lease_until IS NULL OR lease_until <= ?)")
            params.append(utc_now())
        if besides:
            where.append(f"event_id NOT IN ({', '.join(['?'] * len(besides))})")
            params.extend(besides)
        rows = await self._rows(
            f"SELECT event_id, received_at, attempts, body FROM events WHERE {' AND '.join(where)} "
            "ORDER BY received_at, event_id LIMIT ?",
            [*params, max(limit, 0)],
        )
        return [
            PendingEvent(row["event_id"], utc(row["received_at"]), row["attempts"], row["body"])
            for row in rows
        ]

    async def take_event(self, event_id: str, holder: str, lease: timedelta) -> bool:
        """Lease an event for processing (or renew one's own lease); False if it is done or
        another holder's lease is live."""
        now = utc_now()
        taken = await self._count(
            "UPDATE events SET holder = ?, lease_until = ? WHERE event_id = ? AND done_at IS NULL "
            "AND (holder IS NULL OR holder = ? OR lease_until <= ?)",
            [holder, now + lease, event_id, holder, now],
        )
        return taken == 1

    async def renew_events(self, holder: str, lease: timedelta) -> int:
        """Extend every lease `holder` has on unfinished events: it is alive and at them."""
        return await self._count(
            "UPDATE events SET lease_until = ? WHERE holder = ? AND done_at IS NULL",
            [utc_now() + lease, holder],
        )

    async def release_events(self, holder: str) -> int:
        """Give up `holder`'s unfinished events (at shutdown), so others take them at once."""
        return await self._count(
            "UPDATE events SET holder = NULL, lease_until = NULL "
            "WHERE holder = ? AND done_at IS NULL",
            [holder],
        )

    async def finish_event(self, event_id: str) -> None:
        await self._count(
            "UPDATE events SET done_at = ?, holder = NULL, lease_until = NULL WHERE event_id = ?",
            [utc_now(), event_id],
        )

    async def retry_event_later(self, event_id: str) -> None:
        """Count a failed attempt and release the lease; the event stays pending."""
        await self._count(
            "UPDATE events SET attempts = attempts + 1, holder = NULL, lease_until = NULL "
            "WHERE event_id = ? AND done_at IS NULL",
            [event_id],
        )
