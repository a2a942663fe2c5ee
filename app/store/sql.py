"""The store, on its database's driver directly (app/store/databases.py): aiosqlite for
SQLite, asyncpg for PostgreSQL.

`Store.open()` brings the schema to its newest revision first (app/store/connecting.py).
Atomicity comes from single statements: INSERT ... ON CONFLICT for claims, cards, events
and leases, and UPDATE ... WHERE <still free> for taking an event, checked by row count.
Times come from this process's clock, so replicas sharing a database need synced clocks.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta

from app.store.card_state import SharedCardState, new_card
from app.store.connecting import database_target, open_database
from app.store.databases import Database, Row, Session, placeholders, utc
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

logger = logging.getLogger(__name__)


class Store(SharedCardState, WebhookInbox):
    def __init__(self, database_url: str, retention: Retention | None = None) -> None:
        super().__init__()
        self._claiming = GroupCommit(self._claim_all)
        self._recording = GroupCommit(self._record_all)
        self._target = database_target(database_url)
        self._retention = retention or Retention()
        self._database: Database | None = None
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        """Connect and migrate to the newest schema; does nothing if already open."""
        async with self._opening:
            if self._database is None:
                self._database = await open_database(self._target)

    async def close(self) -> None:
        database, self._database = self._database, None
        if database is not None:
            await database.close()

    async def ping(self) -> bool:
        """True when the store is open and answers; never raises."""
        try:
            await self._rows("SELECT 1 AS one")
        except StoreUnavailable:
            return False
        return True

    # -- plumbing

    def _open_database(self) -> Database:
        if self._database is None:
            raise StoreUnavailable("the store is not open")
        return self._database

    def _transaction(self) -> AbstractAsyncContextManager[Session]:
        return self._open_database().transaction()

    async def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A SELECT's rows, outside any transaction: on SQLite it takes no write lock and
        waits for no write (one statement reads one WAL snapshot), so reads (/readyz's ping
        among them) never queue behind a storm of writes."""
        return await self._open_database().rows(sql, params)

    async def _count(self, sql: str, params: Sequence[object] = ()) -> int:
        """Rows changed: 0 when an ON CONFLICT or WHERE clause let nothing through."""
        async with self._transaction() as session:
            return await session.count(sql, params)

    # -- exactly-once claims

    async def claim(self, key: str) -> bool:
        """True for the first caller only, across every process sharing the database.
        Every request claims before it is answered; claims made together (a burst of
        commands) share one transaction."""
        return await self._claiming(key)

    async def _claim_all(self, keys: list[str]) -> list[bool]:
        first = first_arrivals(keys)
        now = utc_now()
        async with self._transaction() as session:
            stored = await session.rows(
                f"INSERT INTO claims (key, claimed_at) VALUES {placeholders(len(first), 2)} "
                "ON CONFLICT DO NOTHING RETURNING key",
                [value for key in first for value in (key, now)],
            )
        return first_inserted(keys, first, {row["key"] for row in stored})

    async def prune(self, older_than: timedelta) -> int:
        """Forget claims older than `older_than`; returns how many."""
        return await self._count(
            "DELETE FROM claims WHERE claimed_at < ?", [utc_now() - older_than]
        )

    async def forget_expired(self) -> Forgotten:
        """Delete webhook events (and their bodies) and audit rows older than the retention,
        and status updates as old as those events once their incident has no open card."""
        now = utc_now()
        forgotten = Forgotten(
            events=await self._count(
                "DELETE FROM events WHERE received_at < ?", [now - self._retention.events]
            ),
            audit_rows=await self._count(
                "DELETE FROM audit_log WHERE at < ?", [now - self._retention.audit]
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
        return await self._count(*new_card(incident_id, card)) == 1

    async def replace_card(self, incident_id: str, card: CardRef) -> None:
        """Insert or overwrite the card of (incident, channel); it counts as open again."""
        await self._count(
            "INSERT INTO cards (incident_id, channel, ts, closed) VALUES (?, ?, ?, FALSE) "
            "ON CONFLICT (incident_id, channel) DO UPDATE SET ts = excluded.ts, closed = FALSE",
            [incident_id, card.channel, card.ts],
        )

    async def find_card(self, incident_id: str, channel: str) -> CardRef | None:
        rows = await self._rows(
            "SELECT channel, ts FROM cards WHERE incident_id = ? AND channel = ?",
            [incident_id, channel],
        )
        return _card(rows[0]) if rows else None

    async def cards_for(self, incident_id: str) -> list[CardRef]:
        rows = await self._rows(
            "SELECT channel, ts FROM cards WHERE incident_id = ? ORDER BY channel", [incident_id]
        )
        return [_card(row) for row in rows]

    async def incident_for_card(self, channel: str, ts: str) -> str | None:
        """The incident whose card is the message (channel, ts), e.g. a thread's parent."""
        rows = await self._rows(
            "SELECT incident_id FROM cards WHERE channel = ? AND ts = ?", [channel, ts]
        )
        return str(rows[0]["incident_id"]) if rows else None

    async def open_incidents_with_cards(self) -> list[str]:
        rows = await self._rows(
            "SELECT DISTINCT incident_id FROM cards WHERE closed = FALSE ORDER BY incident_id"
        )
        return [str(row["incident_id"]) for row in rows]

    async def open_cards(self) -> dict[str, list[CardRef]]:
        """Every open incident's cards, in one query: what a bulk reconcile compares."""
        rows = await self._rows(
            "SELECT incident_id, channel, ts FROM cards WHERE closed = FALSE "
            "ORDER BY incident_id, channel"
        )
        found: dict[str, list[CardRef]] = {}
        for row in rows:
            found.setdefault(str(row["incident_id"]), []).append(_card(row))
        return found

    async def mark_cards_closed(self, incident_id: str) -> None:
        await self._count("UPDATE cards SET closed = TRUE WHERE incident_id = ?", [incident_id])

    # -- audit trail

    async def record(self, entry: AuditEntry) -> None:
        """Entries recorded together (a storm of actions finishing) share one transaction."""
        if entry.at.tzinfo is None:
            raise ValueError("AuditEntry.at must be an aware datetime")
        await self._recording(entry)

    async def _record_all(self, entries: list[AuditEntry]) -> list[None]:
        await self._count(
            "INSERT INTO audit_log (at, slack_user_id, verb, incident, outcome, detail) "
            f"VALUES {placeholders(len(entries), 6)}",
            [
                value
                for e in entries
                for value in (e.at, e.slack_user_id, e.verb, e.incident, e.outcome, e.detail)
            ],
        )
        return [None] * len(entries)

    async def audit(self, *, incident: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first; only `incident`'s entries when given."""
        only = "WHERE incident = ? " if incident is not None else ""
        rows = await self._rows(
            "SELECT at, slack_user_id, verb, incident, outcome, detail FROM audit_log "
            f"{only}ORDER BY at DESC, id DESC LIMIT ?",
            [*([incident] if incident is not None else []), max(limit, 0)],
        )
        return [
            AuditEntry(
                utc(row["at"]),
                row["slack_user_id"],
                row["verb"],
                row["incident"],
                row["outcome"],
                row["detail"],
            )
            for row in rows
        ]

    # -- leases for singletons

    async def try_lease(self, name: str, holder: str, ttl: timedelta) -> bool:
        """Take or renew the lease `name` for `ttl`; False while another holder's is live."""
        now = utc_now()
        return (
            await self._count(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "expires_at = excluded.expires_at "
                "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                [name, holder, now + ttl, now],
            )
            == 1
        )

    async def release_lease(self, name: str, holder: str) -> None:
        """Give `name` up early (at shutdown), if `holder` still holds it."""
        await self._count("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder])

    @asynccontextmanager
    async def exclusive(self, name: str, wait: timedelta) -> AsyncIterator[None]:
        """Mutual exclusion across replicas for `name` (an incident): on PostgreSQL an
        advisory lock that dies with a crashed process; SQLite serves one process, whose
        own asyncio locks already exclude. Raises TimeoutError after `wait`."""
        async with self._open_database().exclusive(name, wait.total_seconds()):
            yield


def _card(row: Row) -> CardRef:
    return CardRef(str(row["channel"]), str(row["ts"]))
