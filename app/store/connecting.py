"""Opening a database: the URL as the async drivers want it, SQLite's settings, and the
schema brought to its newest revision (Alembic, app/store/migrations) before first use.
Driver errors surface as `StoreUnavailable`, never repeating the URL."""

import asyncio
import itertools
import shlex
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.store.records import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test keeps them equal). A store already there
# opens without importing Alembic at all, which is a good part of a restart's time to ready.
SCHEMA_HEAD = "0003"
MIGRATION_LOCK = 0x1_C1DE_B07  # pg_advisory_xact_lock key held while migrating
SQLITE_BUSY_TIMEOUT_MS = 5000
READ_ONLY = "incident_bot_read_only"  # execution option: a lone SELECT, no write lock
PG_CONNECT_TIMEOUT_S = 10
_DRIVER_ERRORS = (DBAPIError, PoolTimeout, OSError, sqlite3.Error)


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
def unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from exc


def _is_driver_error(exc: Exception) -> bool:
    if isinstance(exc, _DRIVER_ERRORS):
        return True
    # asyncpg raises some errors (a refused password at connect) past SQLAlchemy's wrapping.
    # Only a PostgreSQL engine loads it: a SQLite store never pays its ~30 ms of start-up.
    asyncpg = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError)


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()
    # We issue BEGIN ourselves (below), instead of the driver's deferred one.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    """Every transaction takes SQLite's write lock up front. A deferred transaction that
    reads and then writes (INSERT … ON CONFLICT does) fails at once with "database is
    locked" if another connection wrote meanwhile; the busy timeout never applies. A
    connection marked READ_ONLY runs its one SELECT outside any transaction instead."""
    if not connection.get_execution_options().get(READ_ONLY):
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


async def open_engine(url: URL, connect_args: dict[str, Any]) -> AsyncEngine:
    """An engine on a database at the newest schema; disposed again if that fails."""
    postgres = url.get_backend_name() == "postgresql"
    # Each action in flight holds one PostgreSQL connection for its incident's
    # advisory lock (see `exclusive`), hence a pool sized for a storm of clicks. A SQLite
    # connection cannot go stale, and every use of one ends its own transaction: its pre-ping
    # and its rollback on return would each be one more trip to the driver's thread per
    # transaction, for nothing (a third of a `ping`'s CPU).
    pool: dict[str, Any] = (
        {"pool_size": 10, "max_overflow": 40, "pool_pre_ping": True}
        if postgres
        else {"pool_reset_on_return": None}
    )
    engine = create_async_engine(url, connect_args=connect_args, hide_parameters=True, **pool)
    if not postgres:
        sa.event.listen(engine.sync_engine, "connect", _sqlite_busy_timeout)
        sa.event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
    try:
        with unavailable():
            if not postgres:
                await _enable_wal(engine)
            async with engine.begin() as conn:
                # One migration at a time, across replicas and within this process
                # (Alembic's `op` and `context` are process-wide, so never interleave).
                if postgres:
                    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                # (SQLite: engine.begin() took the write lock already.)
                await conn.run_sync(_upgrade)
    except BaseException:
        await engine.dispose()
        raise
    return engine
