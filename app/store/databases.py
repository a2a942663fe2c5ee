"""The two databases the store runs on, behind one small interface, on their drivers
directly: SQLite through aiosqlite, PostgreSQL through an asyncpg pool. (SQLAlchemy Core
cost ~0.19 s of every start's imports, and compiled each ON CONFLICT statement at every
call, for statements that both dialects share word for word.)

Statements are written once, with `?` placeholders, in the SQL both speak: INSERT … ON
CONFLICT … RETURNING, TRUE/FALSE, CASE. Rows come back as dicts. Datetimes go in aware;
SQLite keeps them as naive UTC text that sorts as time does, so they come back as text
there: `utc()` reads either. Every driver failure surfaces as `StoreUnavailable`, which
never repeats the URL.
"""

import asyncio
import hashlib
import sqlite3
import sys
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.store.records import StoreUnavailable

if TYPE_CHECKING:
    import aiosqlite
    import asyncpg

Row = dict[str, Any]
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_READERS = 4  # connections that read while another writes (WAL)
# The text SQLAlchemy's SQLite dialect stored datetimes as; files written before keep working.
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
POSTGRES_POOL = {"min_size": 1, "max_size": 50}  # each action in flight holds one (see lock)
POSTGRES_ACQUIRE_TIMEOUT_S = 30.0
POSTGRES_CLOSE_WAIT_S = 5.0


def utc(value: datetime | str) -> datetime:
    """A datetime column's value, aware and in UTC, from either database."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


@contextmanager
def unavailable() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__})") from exc


def _is_driver_error(exc: Exception) -> bool:
    # TimeoutError (waiting for a pooled connection) is an OSError.
    if isinstance(exc, OSError | sqlite3.Error):
        return True
    # Only a PostgreSQL store loads asyncpg: a SQLite store never pays its start-up.
    asyncpg = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError)


def placeholders(rows: int, columns: int) -> str:
    """`(?, ?), (?, ?)` for a multi-row VALUES of `rows` rows."""
    row = "(" + ", ".join(["?"] * columns) + ")"
    return ", ".join([row] * rows)


class Session(ABC):
    """One connection's statements, inside a transaction or outside any."""

    @abstractmethod
    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]: ...

    @abstractmethod
    async def count(self, sql: str, params: Sequence[object] = ()) -> int:
        """Rows changed: 0 when an ON CONFLICT or WHERE clause let nothing through."""


class Database(ABC):
    postgres: bool

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """Committed when the block ends, rolled back if it raises."""

    @abstractmethod
    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """A lone SELECT's rows, outside any transaction."""

    @abstractmethod
    def exclusive(self, name: str, wait: float) -> AbstractAsyncContextManager[None]:
        """Mutual exclusion across processes for `name`, held while the block runs; raises
        TimeoutError if not had within `wait` seconds."""

    @abstractmethod
    async def close(self) -> None: ...


class _SQLiteSession(Session):
    def __init__(self, connection: "aiosqlite.Connection") -> None:
        self._connection = connection

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        found = await self._connection.execute_fetchall(sql, _sqlite_params(params))
        return [dict(row) for row in found]

    async def count(self, sql: str, params: Sequence[object] = ()) -> int:
        async with self._connection.execute(sql, _sqlite_params(params)) as cursor:
            return cursor.rowcount


class SQLiteDatabase(Database):
    """One writer connection, one transaction at a time, queued here rather than in SQLite's
    busy handler (a busy event loop can never make them time out); a few reader connections
    whose lone SELECTs read one WAL snapshot each and never wait for a write."""

    postgres = False

    def __init__(self, path: str) -> None:
        """Opened by `open`."""
        self._path = path
        self._writer: aiosqlite.Connection | None = None
        self._one_at_a_time = asyncio.Lock()
        self._idle_readers: list[aiosqlite.Connection] = []
        self._readers: list[aiosqlite.Connection] = []
        self._reader_slots = asyncio.Semaphore(SQLITE_READERS)

    @classmethod
    async def open(cls, path: str) -> "SQLiteDatabase":
        database = cls(path)
        try:
            with unavailable():
                database._writer = await database._connect()
                await _switch_to_wal(database._writer)
        except BaseException:
            await database.close()
            raise
        return database

    async def _connect(self) -> "aiosqlite.Connection":
        import aiosqlite

        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, not the driver's deferred
        # BEGIN (a deferred transaction that reads, then writes, fails at once with "database
        # is locked" if another connection wrote meanwhile; the busy timeout never applies).
        connection = await aiosqlite.connect(self._path, isolation_level=None)
        connection.row_factory = sqlite3.Row
        await connection.execute_fetchall(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        return connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._one_at_a_time:
            with unavailable():
                writer = self._open_writer()
                try:
                    await writer.execute_fetchall("BEGIN IMMEDIATE")
                    yield _SQLiteSession(writer)
                    await writer.commit()
                except BaseException:
                    # A no-op unless a transaction is open. The driver's thread runs it after
                    # whatever it was doing, so even a BEGIN we stopped waiting for (a
                    # cancelled request) ends rolled back, not left open for the next one.
                    await writer.rollback()
                    raise

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        async with self._reader_slots:
            with unavailable():
                self._open_writer()  # closed: no new readers
                reader = self._idle_readers.pop() if self._idle_readers else await self._reader()
                try:
                    return await _SQLiteSession(reader).rows(sql, params)
                finally:
                    self._idle_readers.append(reader)

    async def _reader(self) -> "aiosqlite.Connection":
        reader = await self._connect()
        self._readers.append(reader)
        return reader

    def _open_writer(self) -> "aiosqlite.Connection":
        if self._writer is None:
            raise sqlite3.OperationalError("the database is closed")
        return self._writer

    @asynccontextmanager
    async def exclusive(self, name: str, wait: float) -> AsyncIterator[None]:
        # SQLite serves one process, whose own asyncio locks already exclude.
        yield

    async def close(self) -> None:
        connections = [c for c in (self._writer, *self._readers) if c is not None]
        self._writer, self._readers, self._idle_readers = None, [], []
        for connection in connections:
            await connection.close()


async def _switch_to_wal(connection: "aiosqlite.Connection") -> None:
    """Switch the file to WAL (the file keeps it). The switch does not wait out another
    connection's lock as other statements do: it fails at once, so retry it a while."""
    for attempt in range(SQLITE_BUSY_TIMEOUT_MS // 50 + 1):
        try:
            await connection.execute_fetchall("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc) or attempt * 50 >= SQLITE_BUSY_TIMEOUT_MS:
                raise
            await asyncio.sleep(0.05)


def _sqlite_params(params: Sequence[object]) -> list[object]:
    return [
        value.astimezone(UTC).strftime(SQLITE_TIME) if isinstance(value, datetime) else value
        for value in params
    ]


class _PostgresSession(Session):
    def __init__(self, connection: "asyncpg.Connection") -> None:
        self._connection = connection

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [dict(row) for row in await self._connection.fetch(_numbered(sql), *params)]

    async def count(self, sql: str, params: Sequence[object] = ()) -> int:
        status: str = await self._connection.execute(_numbered(sql), *params)
        return int(status.rpartition(" ")[2])  # "INSERT 0 3", "UPDATE 2", "DELETE 0"


class PostgresDatabase(Database):
    postgres = True

    def __init__(self, pool: "asyncpg.Pool", schema: str) -> None:
        self._pool = pool
        self._schema = schema

    @classmethod
    async def open(cls, dsn: str, connect_args: dict[str, Any]) -> "PostgresDatabase":
        import asyncpg

        with unavailable():
            pool = await asyncpg.create_pool(dsn, **POSTGRES_POOL, **connect_args)
            try:
                schema = str(await pool.fetchval("SELECT current_schema()"))
            except BaseException:
                await pool.close()
                raise
            return cls(pool, schema)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator["asyncpg.Connection"]:
        async with self._pool.acquire(timeout=POSTGRES_ACQUIRE_TIMEOUT_S) as connection:
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        with unavailable():
            async with self._connection() as connection, connection.transaction():
                yield _PostgresSession(connection)

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with unavailable():
            async with self._connection() as connection:
                return await _PostgresSession(connection).rows(sql, params)

    @asynccontextmanager
    async def exclusive(self, name: str, wait: float) -> AsyncIterator[None]:
        """A session-level advisory lock on a connection of its own, so it dies with a
        crashed process instead of blocking others until some lease expires. Tried, not
        waited for in the server, so that the timeout can always stop the wait. (A lock
        left by a cancelled try goes with the pool's reset of the connection.)

        Advisory locks are per database, not per schema: the key includes the schema, so
        that two bots in two schemas of one database (staging and production) never wait
        for each other's locks."""
        scoped = f"{self._schema}:{name}".encode()
        key = int.from_bytes(hashlib.sha256(scoped).digest()[:8], "big", signed=True)
        connection = None
        held = False
        try:
            # The timeout outside: TimeoutError is an OSError, which `unavailable` rewraps.
            async with asyncio.timeout(wait):
                with unavailable():
                    connection = await self._pool.acquire()
                    locked = "SELECT pg_try_advisory_lock($1)"
                    while not await connection.fetchval(locked, key):  # noqa: ASYNC110 - polls PostgreSQL
                        await asyncio.sleep(0.02)
                    held = True
            yield
        finally:
            if connection is not None:
                with unavailable():
                    try:
                        if held:
                            await connection.execute("SELECT pg_advisory_unlock($1)", key)
                    finally:
                        await self._pool.release(connection)

    async def close(self) -> None:
        # The pool's close waits for every connection to come back: not past a few seconds.
        try:
            await asyncio.wait_for(self._pool.close(), POSTGRES_CLOSE_WAIT_S)
        except TimeoutError:
            self._pool.terminate()


def _numbered(sql: str) -> str:
    """`?` placeholders as asyncpg's `$1, $2, …`."""
    first, *rest = sql.split("?")
    return first + "".join(f"${number}{part}" for number, part in enumerate(rest, 1))
