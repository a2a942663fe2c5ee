"""The store over SQLAlchemy Core (asyncio): aiosqlite for SQLite, asyncpg for PostgreSQL.

`Store.open()` brings the schema to its newest revision first (app/store/connecting.py).
Atomicity comes from single statements: INSERT ... ON CONFLICT for claims, cards, events
and leases, and UPDATE ... WHERE <still free> for taking an event, checked by row count.
Times come from this process's clock, so replicas sharing a database need synced clocks.
"""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.store.card_state import SharedCardState
from app.store.connecting import READ_ONLY, async_url, open_engine, unavailable
from app.store.group_commit import GroupCommit, first_arrivals, first_inserted
from app.store.inbox import WebhookInbox
from app.store.plumbing import utc_now
from app.store.records import (
    AuditEntry,
    CardRef,
    Forgotten,
    Retention,
    StoreUnavailable,
)
from app.store.schema import audit_log, cards, claims, events, leases

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

logger = logging.getLogger(__name__)


class Store(SharedCardState, WebhookInbox):
    def __init__(self, database_url: str, retention: Retention | None = None) -> None:
        super().__init__()
        self._claiming = GroupCommit(self._claim_all)
        self._recording = GroupCommit(self._record_all)
        self._url, self._connect_args = async_url(database_url)
        self._retention = retention or Retention()
        self._postgres = self._url.get_backend_name() == "postgresql"
        self._engine: AsyncEngine | None = None
        self._opening = asyncio.Lock()
        self._one_at_a_time: asyncio.Lock | contextlib.nullcontext[None] = (
            contextlib.nullcontext() if self._postgres else asyncio.Lock()
        )

    async def open(self) -> None:
        """Connect and migrate to the newest schema; does nothing if already open."""
        async with self._opening:
            if self._engine is None:
                self._engine = await open_engine(self._url, self._connect_args)

    async def close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await engine.dispose()

    async def ping(self) -> bool:
        """True when the store is open and answers; never raises."""
        try:
            await self._rows(sa.select(sa.literal(1)))
        except StoreUnavailable:
            return False
        return True

    # -- plumbing

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        if self._engine is None:
            raise StoreUnavailable("the store is not open")
        # SQLite has one writer at a time; queueing our own transactions here, rather than
        # in SQLite's busy handler, means a busy event loop can never make them time out.
        async with self._one_at_a_time:
            with unavailable():
                async with self._engine.begin() as conn:
                    yield conn

    async def _rows(self, statement: sa.Executable) -> list[sa.Row[Any]]:
        """A SELECT's rows. On SQLite it takes no write lock and waits for no write: one
        statement outside a transaction reads one snapshot (WAL), so reads (/readyz's
        ping among them) never queue behind a storm of writes."""
        if self._postgres:
            async with self._transaction() as conn:
                return list((await conn.execute(statement)).all())
        if self._engine is None:
            raise StoreUnavailable("the store is not open")
        with unavailable():
            async with self._engine.connect() as conn:
                await conn.execution_options(**{READ_ONLY: True})
                return list((await conn.execute(statement)).all())

    async def _count(self, statement: sa.Executable) -> int:
        """Rows changed: 0 when an ON CONFLICT or WHERE clause let nothing through."""
        async with self._transaction() as conn:
            return (await conn.execute(statement)).rowcount

    def _insert(self, table: sa.Table) -> "postgresql.Insert | sqlite.Insert":
        # Imported here: a SQLite store never loads the PostgreSQL dialect (~40 ms at start).
        if self._postgres:
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)

    # -- exactly-once claims

    async def claim(self, key: str) -> bool:
        """True for the first caller only, across every process sharing the database.
        Every request claims before it is answered; claims made together (a burst of
        commands) share one transaction."""
        return await self._claiming(key)

    async def _claim_all(self, keys: list[str]) -> list[bool]:
        first = first_arrivals(keys)
        now = utc_now()
        insert = self._insert(claims).values([{"key": key, "claimed_at": now} for key in first])
        async with self._transaction() as conn:
            stored = await conn.execute(insert.on_conflict_do_nothing().returning(claims.c.key))
            inserted = set(stored.scalars())
        return first_inserted(keys, first, inserted)

    async def prune(self, older_than: timedelta) -> int:
        """Forget claims older than `older_than`; returns how many."""
        return await self._count(
            sa.delete(claims).where(claims.c.claimed_at < utc_now() - older_than)
        )

    async def forget_expired(self) -> Forgotten:
        """Delete webhook events (and their bodies) and audit rows older than the retention,
        and status updates as old as those events once their incident has no open card."""
        now = utc_now()
        forgotten = Forgotten(
            events=await self._count(
                sa.delete(events).where(events.c.received_at < now - self._retention.events)
            ),
            audit_rows=await self._count(
                sa.delete(audit_log).where(audit_log.c.at < now - self._retention.audit)
            ),
            status_updates=await self.forget_status_updates(older_than=self._retention.events),
        )
        if forgotten.events or forgotten.audit_rows or forgotten.status_updates:
            logger.info(
                "retention: forgot %d webhook events, %d audit rows and %d status updates",
                forgotten.events,
                forgotten.audit_rows,
                forgotten.status_updates,
            )
        return forgotten

    # -- cards: one per incident per channel

    async def save_card(self, incident_id: str, card: CardRef) -> bool:
        """Insert if that (incident, channel) has no card yet; False (and no change) if it has."""
        insert = self._insert(cards).values(
            incident_id=incident_id, channel=card.channel, ts=card.ts, closed=False
        )
        return await self._count(insert.on_conflict_do_nothing()) == 1

    async def replace_card(self, incident_id: str, card: CardRef) -> None:
        """Insert or overwrite the card of (incident, channel); it counts as open again."""
        insert = self._insert(cards).values(
            incident_id=incident_id, channel=card.channel, ts=card.ts, closed=False
        )
        await self._count(
            insert.on_conflict_do_update(
                index_elements=[cards.c.incident_id, cards.c.channel],
                set_={"ts": insert.excluded.ts, "closed": False},
            )
        )

    async def find_card(self, incident_id: str, channel: str) -> CardRef | None:
        rows = await self._rows(
            sa.select(cards.c.channel, cards.c.ts).where(
                cards.c.incident_id == incident_id, cards.c.channel == channel
            )
        )
        return CardRef(str(rows[0].channel), str(rows[0].ts)) if rows else None

    async def cards_for(self, incident_id: str) -> list[CardRef]:
        rows = await self._rows(
            sa.select(cards.c.channel, cards.c.ts)
            .where(cards.c.incident_id == incident_id)
            .order_by(cards.c.channel)
        )
        return [CardRef(str(row.channel), str(row.ts)) for row in rows]

    async def incident_for_card(self, channel: str, ts: str) -> str | None:
        """The incident whose card is the message (channel, ts), e.g. a thread's parent."""
        rows = await self._rows(
            sa.select(cards.c.incident_id).where(cards.c.channel == channel, cards.c.ts == ts)
        )
        return str(rows[0].incident_id) if rows else None

    async def open_incidents_with_cards(self) -> list[str]:
        rows = await self._rows(
            sa.select(cards.c.incident_id)
            .where(cards.c.closed.is_(False))
            .distinct()
            .order_by(cards.c.incident_id)
        )
        return [str(row.incident_id) for row in rows]

    async def open_cards(self) -> dict[str, list[CardRef]]:
        """Every open incident's cards, in one query: what a bulk reconcile compares."""
        rows = await self._rows(
            sa.select(cards.c.incident_id, cards.c.channel, cards.c.ts)
            .where(cards.c.closed.is_(False))
            .order_by(cards.c.incident_id, cards.c.channel)
        )
        found: dict[str, list[CardRef]] = {}
        for row in rows:
            found.setdefault(str(row.incident_id), []).append(
                CardRef(str(row.channel), str(row.ts))
            )
        return found

    async def mark_cards_closed(self, incident_id: str) -> None:
        await self._count(
            sa.update(cards).where(cards.c.incident_id == incident_id).values(closed=True)
        )

    # -- audit trail

    async def record(self, entry: AuditEntry) -> None:
        """Entries recorded together (a storm of actions finishing) share one transaction."""
        if entry.at.tzinfo is None:
            raise ValueError("AuditEntry.at must be an aware datetime")
        await self._recording(entry)

    async def _record_all(self, entries: list[AuditEntry]) -> list[None]:
        await self._count(sa.insert(audit_log).values([asdict(entry) for entry in entries]))
        return [None] * len(entries)

    async def audit(self, *, incident: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first; only `incident`'s entries when given."""
        query = sa.select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        if incident is not None:
            query = query.where(audit_log.c.incident == incident)
        rows = await self._rows(query.limit(max(limit, 0)))
        return [
            AuditEntry(row.at, row.slack_user_id, row.verb, row.incident, row.outcome, row.detail)
            for row in rows
        ]

    # -- leases for singletons

    async def try_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease `name` for `ttl`; False while another holder's is live."""
        now = utc_now()
        insert = self._insert(leases).values(name=name, holder=holder, expires_at=now + ttl)
        upsert = insert.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": holder, "expires_at": now + ttl},
            where=sa.or_(leases.c.holder == holder, leases.c.expires_at <= now),
        )
        return await self._count(upsert) == 1

    async def release_lease(self, name: str, holder: str) -> None:
        """Give `name` up early (at shutdown), if `holder` still holds it."""
        await self._count(sa.delete(leases).where(leases.c.name == name, leases.c.holder == holder))

    @asynccontextmanager
    async def exclusive(self, name: str, wait: timedelta) -> AsyncIterator[None]:
        """Mutual exclusion across replicas for `name` (an incident): a PostgreSQL advisory
        lock, held on its own connection, so it dies with a crashed process instead of
        blocking others until some lease expires. SQLite serves one process, whose own
        asyncio locks already exclude; nothing to do there. Raises TimeoutError after
        `wait`."""
        if not self._postgres:
            yield
            return
        if self._engine is None:
            raise StoreUnavailable("the store is not open")
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        try_lock = sa.select(sa.func.pg_try_advisory_lock(key))
        with unavailable():
            conn = await self._engine.connect()
        try:
            # The timeout outside: TimeoutError is an OSError, which `_unavailable` rewraps.
            async with asyncio.timeout(wait.total_seconds()):
                with unavailable():
                    while not (await conn.execute(try_lock)).scalar():
                        await conn.commit()
                        await asyncio.sleep(0.02)
                    await conn.commit()
            try:
                yield
            finally:
                with unavailable():
                    await conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    await conn.commit()
        finally:
            await conn.close()
