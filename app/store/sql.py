"""The store over SQLAlchemy Core (asyncio): aiosqlite for SQLite, asyncpg for PostgreSQL.

`Store.open()` migrates the schema with Alembic (app/store/migrations) before anything else.
Atomicity comes from single statements: INSERT ... ON CONFLICT for claims, cards, events
and leases, and UPDATE ... WHERE <still free> for taking an event, checked by row count.
Times come from this process's clock, so replicas sharing a database need synced clocks.
"""

import asyncio
import contextlib
import hashlib
import itertools
import logging
import shlex
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.store.card_state import SharedCardState
from app.store.inbox import WebhookInbox
from app.store.records import (
    AuditEntry,
    CardRef,
    Forgotten,
    Retention,
    StoreUnavailable,
)
from app.store.schema import audit_log, cards, claims, events, leases

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test keeps them equal). A store already there
# opens without importing Alembic at all, which is a good part of a restart's time to ready.
SCHEMA_HEAD = "0002"
MIGRATION_LOCK = 0x1_C1DE_B07  # pg_advisory_xact_lock key held while migrating
SQLITE_BUSY_TIMEOUT_MS = 5000
PG_CONNECT_TIMEOUT_S = 10
_DRIVER_ERRORS = (
    DBAPIError,
    PoolTimeout,
    OSError,
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


def _now() -> datetime:
    return datetime.now(UTC)


def async_url(database_url: str) -> tuple[URL, dict[str, Any]]:
    """A plain `sqlite:///…` or `postgresql://…` URL as (async URL, driver connect args).

    libpq's `sslmode`, `connect_timeout` and `options=-c name=value` become asyncpg's `ssl`,
    `timeout` and `server_settings`. Errors never repeat the URL (it may hold a password).
    """
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ValueError("DATABASE_URL is not a valid database URL") from None
    backend = url.drivername.partition("+")[0]
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite"), {}
    if backend not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL: unsupported scheme {backend!r} (sqlite or postgresql)")
    query = dict(url.query)
    args: dict[str, Any] = {
        "timeout": float(str(query.pop("connect_timeout", PG_CONNECT_TIMEOUT_S)))
    }
    if "sslmode" in query:
        args["ssl"] = query.pop("sslmode")
    settings: dict[str, str] = {}
    words = iter(shlex.split(str(query.pop("options", ""))))
    for word in words:
        setting = next(words, "") if word == "-c" else word.removeprefix("-c").removeprefix("--")
        name, _, value = setting.partition("=")
        settings[name.replace("-", "_")] = value
    if settings:
        args["server_settings"] = settings
    return url.set(drivername="postgresql+asyncpg", query=query), args


@contextmanager
def _unavailable() -> Iterator[None]:
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from exc


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
    # We issue BEGIN ourselves (below), instead of the driver's deferred one.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    """Every transaction takes SQLite's write lock up front. A deferred transaction that
    reads and then writes (INSERT … ON CONFLICT does) fails at once with "database is
    locked" if another connection wrote meanwhile; the busy timeout never applies."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


async def _enable_wal(engine: AsyncEngine) -> None:
    """Switch the SQLite file to WAL (the file keeps it). The switch does not wait out another
    connection's lock as other statements do: it fails at once, so retry it a while. It runs
    on the raw driver connection: it must not be inside a transaction."""
    for attempt in itertools.count():
        try:
            async with engine.connect() as conn:
                await conn.run_sync(_switch_to_wal)
            return
        except (OperationalError, sqlite3.OperationalError) as exc:
            if "database is locked" not in str(exc) or attempt * 50 > SQLITE_BUSY_TIMEOUT_MS:
                raise
            await asyncio.sleep(0.05)


def _switch_to_wal(connection: Connection) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _upgrade(connection: Connection) -> None:
    if _revision(connection) == SCHEMA_HEAD:
        return
    # Imported here: only a store with something to migrate pays for Alembic.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _revision(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


class Store(SharedCardState, WebhookInbox):
    def __init__(self, database_url: str, retention: Retention | None = None) -> None:
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
            if self._engine is not None:
                return
            # Each action in flight holds one PostgreSQL connection for its incident's
            # advisory lock (see `exclusive`), hence a pool sized for a storm of clicks.
            pool = {"pool_size": 10, "max_overflow": 40} if self._postgres else {}
            engine = create_async_engine(
                self._url,
                connect_args=self._connect_args,
                pool_pre_ping=True,
                hide_parameters=True,
                **pool,
            )
            if not self._postgres:
                sa.event.listen(engine.sync_engine, "connect", _sqlite_busy_timeout)
                sa.event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
            try:
                with _unavailable():
                    if not self._postgres:
                        await _enable_wal(engine)
                    async with engine.begin() as conn:
                        # One migration at a time, across replicas and within this process
                        # (Alembic's `op` and `context` are process-wide, so never interleave).
                        if self._postgres:
                            await conn.execute(
                                sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK))
                            )
                        # (SQLite: engine.begin() took the write lock already.)
                        await conn.run_sync(_upgrade)
            except BaseException:
                await engine.dispose()
                raise
            self._engine = engine

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
            with _unavailable():
                async with self._engine.begin() as conn:
                    yield conn

    async def _rows(self, statement: sa.Executable) -> list[sa.Row[Any]]:
        async with self._transaction() as conn:
            return list((await conn.execute(statement)).all())

    async def _count(self, statement: sa.Executable) -> int:
        """Rows changed: 0 when an ON CONFLICT or WHERE clause let nothing through."""
        async with self._transaction() as conn:
            return (await conn.execute(statement)).rowcount

    def _insert(self, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    # -- exactly-once claims

    async def claim(self, key: str) -> bool:
        """True for the first caller only, across every process sharing the database."""
        insert = self._insert(claims).values(key=key, claimed_at=_now())
        return await self._count(insert.on_conflict_do_nothing()) == 1

    async def prune(self, older_than: timedelta) -> int:
        """Forget claims older than `older_than`; returns how many."""
        return await self._count(sa.delete(claims).where(claims.c.claimed_at < _now() - older_than))

    async def forget_expired(self) -> Forgotten:
        """Delete webhook events (and their bodies) and audit rows older than the retention."""
        now = _now()
        forgotten = Forgotten(
            events=await self._count(
                sa.delete(events).where(events.c.received_at < now - self._retention.events)
            ),
            audit_rows=await self._count(
                sa.delete(audit_log).where(audit_log.c.at < now - self._retention.audit)
            ),
        )
        if forgotten.events or forgotten.audit_rows:
            logger.info(
                "retention: forgot %d webhook events and %d audit rows",
                forgotten.events,
                forgotten.audit_rows,
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
        if entry.at.tzinfo is None:
            raise ValueError("AuditEntry.at must be an aware datetime")
        await self._count(
            sa.insert(audit_log).values(
                at=entry.at,
                slack_user_id=entry.slack_user_id,
                verb=entry.verb,
                incident=entry.incident,
                outcome=entry.outcome,
                detail=entry.detail,
            )
        )

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
        now = _now()
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
        with _unavailable():
            conn = await self._engine.connect()
        try:
            # The timeout outside: TimeoutError is an OSError, which `_unavailable` rewraps.
            async with asyncio.timeout(wait.total_seconds()):
                with _unavailable():
                    while not (await conn.execute(try_lock)).scalar():
                        await conn.commit()
                        await asyncio.sleep(0.02)
                    await conn.commit()
            try:
                yield
            finally:
                with _unavailable():
                    await conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                    await conn.commit()
        finally:
            await conn.close()
