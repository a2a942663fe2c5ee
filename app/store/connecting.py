"""Opening a database: DATABASE_URL read into what its driver wants, and the schema brought to
its newest revision (Alembic, app/store/migrations) before first use. Driver errors surface
as `StoreUnavailable`, never repeating the URL."""

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from app.store.databases import Database, PostgresDatabase, SQLiteDatabase, unavailable
from app.store.records import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision in migrations/versions (a test keeps them equal). A store already there
# opens without importing Alembic (nor SQLAlchemy under it): most restarts.
SCHEMA_HEAD = "0003"
MIGRATION_LOCK = 0x1_C1DE_B07  # pg_advisory_xact_lock key held while migrating
PG_CONNECT_TIMEOUT_S = 10
SQLITE_LOCK_WAIT_MS = 30_000  # migrating: another process may be migrating the same file


@dataclass(frozen=True)
class DatabaseTarget:
    """Where DATABASE_URL points: a SQLite file or a PostgreSQL DSN with asyncpg's connect
    arguments."""

    postgres: bool
    path: str = ""
    dsn: str = field(default="", repr=False)  # may hold a password
    connect_args: dict[str, Any] = field(default_factory=dict, repr=False)


def database_target(database_url: str) -> DatabaseTarget:
    """`sqlite:///relative.db`, `sqlite:////absolute.db` or `postgresql://…` (`postgres://`
    and `+driver` suffixes are accepted too). Not SQLite in memory: a restart would forget
    every claim, card and stored webhook.

    libpq's `sslmode`, `connect_timeout` and `options=-c name=value` become asyncpg's `ssl`,
    `timeout` and `server_settings`. Errors never repeat the URL (it may hold a password).
    """
    scheme, colon, rest = database_url.partition(":")
    backend = scheme.partition("+")[0].lower()
    if not colon or not rest.startswith("//") or not backend:
        raise ValueError("is not a database URL (sqlite:///path or postgresql://…)")
    if backend == "sqlite":
        path = unquote(urlsplit(database_url).path.removeprefix("/"))
        if path in ("", ":memory:"):
            raise ValueError("names no SQLite file (sqlite:///path/to/incident-bot.db)")
        return DatabaseTarget(postgres=False, path=path)
    if backend not in ("postgresql", "postgres"):
        raise ValueError(
            f"uses {backend!r}, which the store does not support; use sqlite:///path "
            "or postgresql://…"
        )
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    args: dict[str, Any] = {"timeout": float(query.pop("connect_timeout", PG_CONNECT_TIMEOUT_S))}
    if "sslmode" in query:
        args["ssl"] = query.pop("sslmode")
    settings: dict[str, str] = {}
    words = iter(shlex.split(query.pop("options", "")))
    for word in words:
        setting = next(words, "") if word == "-c" else word.removeprefix("-c").removeprefix("--")
        name, _, value = setting.partition("=")
        settings[name.replace("-", "_")] = value
    if settings:
        args["server_settings"] = settings
    dsn = parts._replace(scheme="postgresql", query=urlencode(query)).geturl()
    return DatabaseTarget(postgres=True, dsn=dsn, connect_args=args)


async def open_database(target: DatabaseTarget) -> Database:
    """A database at the newest schema; closed again if that fails."""
    database: Database = await (
        PostgresDatabase.open(target.dsn, target.connect_args)
        if target.postgres
        else SQLiteDatabase.open(target.path)
    )
    try:
        if await _revision(database) != SCHEMA_HEAD:
            with unavailable():
                await _migrate(target)
    except BaseException:
        await database.close()
        raise
    return database


async def _revision(database: Database) -> str | None:
    exists = (
        "SELECT to_regclass('alembic_version') IS NOT NULL AS found"
        if database.postgres
        else "SELECT count(*) > 0 AS found FROM sqlite_master WHERE name = 'alembic_version'"
    )
    if not (await database.rows(exists))[0]["found"]:
        return None
    versions = await database.rows("SELECT version_num FROM alembic_version")
    return str(versions[0]["version_num"]) if versions else None


async def _migrate(target: DatabaseTarget) -> None:
    """Alembic, on a SQLAlchemy engine of its own, imported and made only when there is
    something to migrate (a first start, an upgrade). One migration at a time, across
    replicas and within this process (Alembic's `op` and `context` are process-wide, so
    never interleave): PostgreSQL's advisory lock, or SQLite's write lock, taken up front
    (BEGIN IMMEDIATE). Either waits while another process migrates; then Alembic finds the
    schema at head and has nothing to do."""
    from sqlalchemy import event, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    # Connected exactly as the store connects: SQLAlchemy never reads DATABASE_URL itself.
    if target.postgres:
        import asyncpg

        async def connect() -> Any:
            return await asyncpg.connect(target.dsn, **target.connect_args)

        engine = create_async_engine(
            "postgresql+asyncpg://", async_creator=connect, hide_parameters=True
        )
    else:
        import aiosqlite

        async def connect() -> Any:
            return await aiosqlite.connect(target.path)

        engine = create_async_engine(
            "sqlite+aiosqlite://", async_creator=connect, hide_parameters=True
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _take_write_lock(connection: Any) -> None:
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_LOCK_WAIT_MS}")
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        async with engine.begin() as connection:
            if target.postgres:
                await connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            await connection.run_sync(_upgrade)
    except DBAPIError as exc:
        raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from exc
    finally:
        await engine.dispose()


def _upgrade(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
