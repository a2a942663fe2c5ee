import asyncio
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import asyncpg
import pytest
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.store import AuditEntry, CardRef, Forgotten, Retention, Store, StoreUnavailable, databases
from app.store.connecting import MIGRATIONS, SCHEMA_HEAD, DatabaseTarget, database_target
from tests.conftest import PG_URL, opened_store, postgres_schema, store_held_elsewhere

TINY = timedelta(milliseconds=50)


async def sleep_past(lease: timedelta) -> None:
    await asyncio.sleep(lease.total_seconds() * 3)


async def aiosqlite_threads_stopped() -> None:
    """aiosqlite stops a connection that failed to open without awaiting the stop: its
    worker thread answers a little later, into this test's loop, which must still run
    (else "RuntimeError: Event loop is closed" from the thread, in whichever test is next)."""
    while any(t.name.endswith("(_connection_worker_thread)") for t in threading.enumerate()):  # noqa: ASYNC110 - a thread, not a coroutine, to wait for
        await asyncio.sleep(0.005)


def entry(at: datetime, incident: str, verb: str = "ack") -> AuditEntry:
    return AuditEntry(at, "U1", verb, incident, "ok", detail=f"{verb} {incident}")


async def test_migrations_run_twice_are_a_no_op(store: Store, database_url: str) -> None:
    await store.claim("kept")
    await store.open()  # the same instance: nothing to do
    again = Store(database_url)
    await again.open()  # a fresh instance: Alembic finds the schema at head
    try:
        assert not await again.claim("kept")
        assert await read_directly(database_url, "SELECT version_num FROM alembic_version") == [
            (SCHEMA_HEAD,)
        ]
    finally:
        await again.close()


async def read_directly(database_url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows read on a connection of the test's own, not the store's."""
    target = database_target(database_url)
    if not target.postgres:
        with sqlite3.connect(target.path) as connection:
            return list(connection.execute(sql))
    connection = await asyncpg.connect(target.dsn, **target.connect_args)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def test_schema_head_names_the_newest_migration() -> None:
    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == SCHEMA_HEAD


def test_a_store_already_at_the_newest_schema_opens_without_loading_alembic_or_sqlalchemy(
    tmp_path: Path,
) -> None:
    """A restart's time to ready: Alembic, with Mako and SQLAlchemy under it, costs ~0.3 s of
    imports, paid only when there is something to migrate."""
    opens = (
        "import asyncio, sys\n"
        "from app.store import Store\n"
        f"store = Store('sqlite:///{tmp_path / 'bot.db'}')\n"
        "asyncio.run(store.open()); asyncio.run(store.close())\n"
        "print('alembic' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    first, second = (
        subprocess.run(  # noqa: S603 - our own code, in a fresh interpreter
            [sys.executable, "-c", opens], capture_output=True, text=True, check=False
        )
        for _ in range(2)
    )
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert (first.stdout.strip(), second.stdout.strip()) == ("True True", "False False")


async def test_two_stores_opening_a_fresh_database_at_once_both_succeed(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    try:
        await asyncio.gather(first.open(), second.open())
        assert await first.ping()
        assert await second.ping()
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_a_sqlite_store_writes_ahead_and_waits_out_another_process_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    async with opened_store(f"sqlite:///{path}") as store:
        other = sqlite3.connect(path, isolation_level=None)  # another process's connection
        try:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            other.execute("BEGIN IMMEDIATE")  # holds the write lock for a while
            asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
            assert await store.claim("waited")  # not "database is locked"
        finally:
            other.close()


async def test_a_write_cancelled_while_waiting_for_the_lock_leaves_no_transaction_open(
    tmp_path: Path,
) -> None:
    """A request given up (a client gone) while its write waits for SQLite's lock: the
    BEGIN still runs later on the driver's thread, and must not stay open for the next."""
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    async with opened_store(url) as store:
        async with store_held_elsewhere(url):
            waiting = asyncio.create_task(store.save_card("P1", CardRef("C1", "1.1")))
            await asyncio.sleep(0.2)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        # Not "cannot start a transaction within a transaction":
        assert await store.save_card("P2", CardRef("C1", "2.2"))
        assert await store.find_card("P1", "C1") is None  # the cancelled write made nothing


async def test_a_sqlite_file_written_by_earlier_versions_keeps_its_times(tmp_path: Path) -> None:
    """Earlier versions (SQLAlchemy's SQLite dialect) stored times as naive UTC text with
    microseconds; they must read back, and compare, as the same instants."""
    path = tmp_path / "bot.db"
    async with opened_store(f"sqlite:///{path}") as store:
        with sqlite3.connect(path) as earlier:
            earlier.execute(
                "INSERT INTO audit_log (at, slack_user_id, verb, incident, outcome, detail)"
                " VALUES ('2025-01-02 03:04:05.000000', 'U1', 'ack', 'P1', 'ok', ''),"
                " ('2025-01-02 03:04:05.500000', 'U1', 'resolve', 'P1', 'ok', '')"
            )
        await store.record(entry(datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "P1", "note"))
        assert [(e.verb, e.at) for e in await store.audit()] == [
            ("resolve", datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
            ("note", datetime(2025, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)),
            ("ack", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ]


def inserts_into(monkeypatch: pytest.MonkeyPatch, table: str) -> list[str]:
    """Every INSERT statement into `table` that stores send to their driver from now on."""
    seen: list[str] = []
    for session in (databases._SQLiteSession, databases._PostgresSession):
        for method in ("rows", "count"):
            sent = getattr(session, method)

            async def send(self: object, sql: str, *args: object, sent: Any = sent) -> object:
                if sql.startswith(f"INSERT INTO {table} "):
                    seen.append(sql)
                return await sent(self, sql, *args)

            monkeypatch.setattr(session, method, send)
    return seen


async def test_claim_is_true_once(store: Store) -> None:
    assert await store.claim("click:1")
    assert not await store.claim("click:1")
    assert await store.claim("click:2")


async def test_fifty_concurrent_claims_from_two_stores_give_exactly_one_true(
    store: Store, replica: Store
) -> None:
    results = await asyncio.gather(
        *((store if i % 2 else replica).claim("event:Ev1") for i in range(50))
    )
    assert sorted(results) == [False] * 49 + [True]


async def test_claims_made_together_share_a_transaction_and_the_first_caller_wins(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserts = inserts_into(monkeypatch, "claims")
    keys = [f"trigger:{n % 40}" for n in range(50)]  # 10 keys asked twice in the burst
    results = await asyncio.gather(*(store.claim(key) for key in keys))

    assert results == [True] * 40 + [False] * 10
    assert len(inserts) <= 3  # the first alone, the rest as they queued behind it
    assert not await store.claim("trigger:7")


async def test_reads_and_readiness_do_not_wait_for_a_write_in_progress(store: Store) -> None:
    await store.save_card("P1", CardRef("C1", "1.1"))
    writing, done = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:
        async with store._transaction() as session:  # holds SQLite's write lock
            await session.count("DELETE FROM claims")
            writing.set()
            await done.wait()

    writer = asyncio.create_task(long_write())
    await writing.wait()
    try:
        assert await asyncio.wait_for(store.ping(), timeout=2)
        assert await asyncio.wait_for(store.cards_for("P1"), timeout=2) == [CardRef("C1", "1.1")]
    finally:
        done.set()
        await writer


async def test_prune_forgets_old_claims(store: Store) -> None:
    await store.claim("a")
    await store.claim("b")
    assert await store.prune(timedelta(hours=1)) == 0
    assert not await store.claim("a")
    await asyncio.sleep(0.01)
    assert await store.prune(timedelta(0)) == 2
    assert await store.claim("a")


async def test_forget_expired_deletes_webhook_events_finished_or_not_past_their_retention(
    database_url: str,
) -> None:
    # Long enough that E-fresh is still within it when forget_expired runs, on a busy CPU.
    retention = timedelta(seconds=1)
    store = Store(database_url, Retention(events=retention))
    await store.open()
    try:
        await store.accept_event("E-finished", '{"event": "finished"}')
        await store.finish_event("E-finished")
        await store.accept_event("E-stuck", '{"event": "never finished"}')
        await asyncio.sleep(retention.total_seconds() * 1.2)
        await store.accept_event("E-fresh", '{"event": "fresh"}')

        assert await store.forget_expired() == Forgotten(events=2, audit_rows=0)

        assert [e.event_id for e in await store.pending_events()] == ["E-fresh"]
        assert await store.accept_event("E-finished", "{}")  # its id and body are gone
        assert not await store.accept_event("E-fresh", "{}")
    finally:
        await store.close()


async def test_forget_expired_deletes_audit_rows_past_their_retention_and_keeps_the_rest(
    database_url: str,
) -> None:
    store = Store(database_url, Retention(audit=timedelta(days=365)))
    await store.open()
    now = datetime.now(UTC)
    try:
        await store.record(entry(now - timedelta(days=366), "P-OLD"))
        await store.record(entry(now - timedelta(days=364), "P-YEAR"))
        await store.record(entry(now, "P-NOW"))
        await store.accept_event("E-today", "{}")

        assert await store.forget_expired() == Forgotten(events=0, audit_rows=1)

        assert [e.incident for e in await store.audit()] == ["P-NOW", "P-YEAR"]
        assert not await store.accept_event("E-today", "{}")  # 30 days by default
    finally:
        await store.close()


async def test_save_card_keeps_the_first_card_per_channel(store: Store) -> None:
    assert await store.save_card("P1", CardRef("C1", "1.1"))
    assert not await store.save_card("P1", CardRef("C1", "2.2"))
    assert await store.save_card("P1", CardRef("C2", "3.3"))
    assert await store.find_card("P1", "C1") == CardRef("C1", "1.1")
    assert await store.find_card("P1", "C3") is None
    assert await store.cards_for("P1") == [CardRef("C1", "1.1"), CardRef("C2", "3.3")]
    assert await store.cards_for("P2") == []


async def test_replace_card_overwrites_or_inserts(store: Store) -> None:
    await store.replace_card("P1", CardRef("C1", "1.1"))
    await store.replace_card("P1", CardRef("C1", "2.2"))
    assert await store.cards_for("P1") == [CardRef("C1", "2.2")]
    assert await store.incident_for_card("C1", "1.1") is None


async def test_incident_for_card_finds_a_threads_incident(store: Store) -> None:
    await store.save_card("P1", CardRef("C1", "1.1"))
    await store.save_card("P2", CardRef("C1", "2.2"))
    assert await store.incident_for_card("C1", "2.2") == "P2"
    assert await store.incident_for_card("C2", "2.2") is None


async def test_closed_cards_drop_out_of_open_incidents_with_cards(store: Store) -> None:
    await store.save_card("P1", CardRef("C1", "1.1"))
    await store.save_card("P1", CardRef("C2", "1.2"))
    await store.save_card("P2", CardRef("C1", "2.1"))
    assert await store.open_incidents_with_cards() == ["P1", "P2"]
    await store.mark_cards_closed("P1")
    assert await store.open_incidents_with_cards() == ["P2"]
    assert await store.find_card("P1", "C1") == CardRef("C1", "1.1")  # closed, still found


async def test_audit_is_newest_first_and_filtered_by_incident(store: Store) -> None:
    start = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    for minutes, incident in [(0, "P1"), (2, "P2"), (1, "P1"), (3, "P1")]:
        await store.record(entry(start + timedelta(minutes=minutes), incident))
    every = await store.audit()
    assert [e.at for e in every] == [start + timedelta(minutes=m) for m in (3, 2, 1, 0)]
    assert every[0] == entry(start + timedelta(minutes=3), "P1")
    assert every[0].at.tzinfo is not None
    assert [e.incident for e in await store.audit(incident="P1")] == ["P1"] * 3
    assert len(await store.audit(incident="P1", limit=2)) == 2
    assert await store.audit(incident="P9") == []


async def test_audit_entries_recorded_together_are_each_kept_in_one_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    inserts = inserts_into(monkeypatch, "audit_log")
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    entries = [entry(at, f"P{n}") for n in range(30)]
    await asyncio.gather(*(store.record(e) for e in entries))

    assert len(inserts) <= 3  # the first alone, the rest as they queued behind it
    # Same time: the newest first is the last recorded.
    assert await store.audit(limit=100) == entries[::-1]


@settings(
    max_examples=40,
    deadline=None,
    # One store serves every example; each example writes an incident of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    times=st.lists(
        st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=13, minutes=45))]
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
async def test_any_aware_time_reads_back_as_the_same_instant_in_time_order(
    store: Store, times: list[datetime]
) -> None:
    incident = f"P{uuid.uuid4().hex}"
    for at in times:
        await store.record(entry(at, incident))
    read = [e.at for e in await store.audit(incident=incident, limit=10)]
    assert read == sorted(read, reverse=True)
    assert sorted(read) == sorted(times)
    assert all(at.tzinfo == UTC for at in read)


async def test_audit_keeps_times_given_in_other_zones_as_utc(store: Store) -> None:
    at = datetime(2025, 1, 2, 12, 0, tzinfo=UTC).astimezone(tz=None)
    await store.record(entry(at, "P1"))
    assert (await store.audit())[0].at == at
    with pytest.raises(ValueError, match="aware"):
        await store.record(entry(datetime(2025, 1, 2), "P1"))


async def test_accept_event_dedupes(store: Store) -> None:
    assert await store.accept_event("E1", '{"n": 1}')
    assert not await store.accept_event("E1", '{"n": 2}')
    assert await store.accept_event("E2", "{}")
    pending = await store.pending_events()
    assert [(p.event_id, p.body, p.attempts) for p in pending] == [
        ("E1", '{"n": 1}', 0),
        ("E2", "{}", 0),
    ]
    assert pending[0].received_at.tzinfo is not None
    assert len(await store.pending_events(limit=1)) == 1


async def test_a_storm_of_webhooks_is_accepted_together_in_the_order_it_arrived(
    store: Store,
) -> None:
    # Ids in reverse order, so only the arrival order can put them right; two deliveries
    # of one event in the same storm count once.
    arriving = [f"E{n:03d}" for n in range(150, 0, -1)]
    accepted = await asyncio.gather(
        *(store.accept_event(event_id, f'{{"n": "{event_id}"}}') for event_id in arriving),
        store.accept_event("E150", "{}"),
    )

    assert accepted == [True] * len(arriving) + [False]
    pending = await store.pending_events(limit=500)
    assert [p.event_id for p in pending] == arriving
    assert [p.body for p in pending][:1] == ['{"n": "E150"}']


async def test_one_event_delivered_to_two_replicas_at_once_is_accepted_by_one(
    store: Store, replica: Store
) -> None:
    for n in range(20):  # the two inserts race differently each time
        answers = await asyncio.gather(
            store.accept_event(f"E{n}", "{}"), replica.accept_event(f"E{n}", "{}")
        )
        assert sorted(answers) == [False, True]


async def test_take_event_is_exclusive_until_the_lease_expires_and_closed_once_finished(
    store: Store,
) -> None:
    await store.accept_event("E1", "{}")
    assert await store.take_event("E1", "a", timedelta(minutes=5))
    assert not await store.take_event("E1", "b", timedelta(minutes=5))
    assert await store.take_event("E1", "a", TINY)  # its holder may shorten it
    await sleep_past(TINY)
    assert await store.take_event("E1", "b", timedelta(minutes=5))
    assert not await store.take_event("E1", "a", TINY)
    await store.finish_event("E1")
    assert not await store.take_event("E1", "b", timedelta(minutes=5))
    assert not await store.take_event("E1", "a", timedelta(minutes=5))
    assert await store.pending_events() == []
    assert not await store.accept_event("E1", "{}")
    assert not await store.take_event("unknown", "a", TINY)


async def test_unleased_pending_events_leave_out_those_taken_and_those_in_hand(
    store: Store,
) -> None:
    for event_id in ["E1", "E2", "E3"]:
        await store.accept_event(event_id, "{}")
    assert await store.take_event("E1", "a", timedelta(minutes=5))

    pending = await store.pending_events(unleased=True, besides={"E2"})

    assert [p.event_id for p in pending] == ["E3"]
    assert len(await store.pending_events()) == 3


async def test_a_live_holder_renews_its_leases_and_releases_them_at_shutdown(
    store: Store,
) -> None:
    await store.accept_event("E1", "{}")
    await store.accept_event("E2", "{}")
    assert await store.take_event("E1", "a", TINY)
    assert await store.take_event("E2", "a", TINY)
    await store.finish_event("E2")

    assert await store.renew_events("a", timedelta(minutes=5)) == 1
    await sleep_past(TINY)
    assert not await store.take_event("E1", "b", timedelta(minutes=5))  # renewed
    assert await store.release_events("a") == 1
    assert await store.take_event("E1", "b", timedelta(minutes=5))


async def test_open_cards_lists_each_open_incidents_cards(store: Store) -> None:
    await store.save_card("P1", CardRef("C1", "1.1"))
    await store.save_card("P1", CardRef("C2", "2.1"))
    await store.save_card("P2", CardRef("C1", "1.2"))
    await store.mark_cards_closed("P2")

    assert await store.open_cards() == {"P1": [CardRef("C1", "1.1"), CardRef("C2", "2.1")]}


async def test_retry_event_later_keeps_it_pending_with_one_more_attempt(store: Store) -> None:
    await store.accept_event("E1", "{}")
    assert await store.take_event("E1", "a", timedelta(minutes=5))
    await store.retry_event_later("E1")
    [pending] = await store.pending_events()
    assert (pending.event_id, pending.attempts) == ("E1", 1)
    assert await store.take_event("E1", "b", timedelta(minutes=5))  # the lease was released


async def test_try_lease_is_exclusive_until_expiry_and_renewable_by_its_holder(
    store: Store,
) -> None:
    assert await store.try_lease("reconciler", "a", timedelta(minutes=5))
    assert not await store.try_lease("reconciler", "b", TINY)
    assert await store.try_lease("reconciler", "a", timedelta(minutes=5))  # renewed
    assert not await store.try_lease("reconciler", "b", TINY)
    assert await store.try_lease("other", "b", TINY)
    assert await store.try_lease("reconciler", "a", TINY)
    await sleep_past(TINY)
    assert await store.try_lease("reconciler", "b", timedelta(minutes=5))
    assert not await store.try_lease("reconciler", "a", TINY)


async def test_ping_is_true_when_open_and_false_when_closed(store: Store) -> None:
    assert await store.ping()
    await store.close()
    assert not await store.ping()
    with pytest.raises(StoreUnavailable):
        await store.claim("x")


@pytest.mark.parametrize(
    "make_url",
    [
        pytest.param(lambda _: "postgresql://postgres:s3cret-pw@127.0.0.1:1/test", id="postgresql"),
        pytest.param(lambda tmp: f"sqlite:///{tmp}/a-file/store.db", id="sqlite"),
    ],
)
async def test_a_store_on_a_dead_database_raises_store_unavailable_without_the_url(
    tmp_path: Path, make_url: Callable[[Path], str]
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = make_url(tmp_path)
    store = Store(url)
    with pytest.raises(StoreUnavailable) as raised:
        await store.open()
    await aiosqlite_threads_stopped()
    message = str(raised.value)
    assert message.startswith("the store is unavailable")
    for secret in (url, "s3cret", str(tmp_path), "127.0.0.1"):
        assert secret not in message
    assert not await store.ping()


async def test_a_malformed_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(ValueError, match="not a database URL") as raised:
        Store("not a url at all :s3cret")
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ValueError, match="does not support") as raised:
        Store("mysql://u:s3cret@host/db")
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ValueError, match="names no SQLite file"):
        Store("sqlite:///:memory:")


async def test_exclusive_admits_one_holder_at_a_time_across_stores(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url)
    await first.open()
    await second.open()
    inside: list[str] = []
    overlaps = 0

    async def hold(store: Store, who: str) -> None:
        nonlocal overlaps
        async with store.exclusive("incident:PT4KHLK", timedelta(seconds=10)):
            overlaps += len(inside)
            inside.append(who)
            await asyncio.sleep(0.05)
            inside.remove(who)

    try:
        if database_url.startswith("sqlite"):
            # One process per SQLite file: the store adds nothing; the app's asyncio lock
            # is what excludes there.
            async with first.exclusive("x", timedelta(seconds=1)):
                pass
            return
        await asyncio.gather(
            *(hold(s, f"{s is first}-{n}") for n in range(5) for s in (first, second))
        )
        assert overlaps == 0
    finally:
        await first.close()
        await second.close()


async def test_exclusive_gives_up_after_its_wait(postgres_url: str) -> None:
    first, second = Store(postgres_url), Store(postgres_url)
    await first.open()
    await second.open()
    try:
        async with first.exclusive("incident:P1", timedelta(seconds=5)):
            with pytest.raises(TimeoutError):
                async with second.exclusive("incident:P1", timedelta(seconds=0.2)):
                    pass
        async with second.exclusive("incident:P1", timedelta(seconds=1)):
            pass  # free again once the first let go
    finally:
        await first.close()
        await second.close()


async def test_closing_a_store_while_a_lock_is_held_does_not_wait_for_it_forever(
    postgres_url: str,
) -> None:
    """Shutdown: PostgreSQL's pool would wait for every connection to come back."""
    store = Store(postgres_url)
    await store.open()
    holding, forever = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with store.exclusive("incident:P1", timedelta(seconds=5)):
            holding.set()
            await forever.wait()

    holder = asyncio.create_task(hold())
    try:
        await holding.wait()
        await asyncio.wait_for(store.close(), timeout=15)
        async with (
            opened_store(postgres_url) as other,
            other.exclusive("incident:P1", timedelta(seconds=5)),
        ):
            pass  # the lock went with the closed connection
    finally:
        holder.cancel()
        await asyncio.gather(holder, return_exceptions=True)


def target_or_refusal(url: str) -> DatabaseTarget | str:
    try:
        return database_target(url)
    except ValueError as error:
        return str(error)


database_urls = st.builds(
    lambda scheme, password, query, more: (
        f"{scheme}://bot:{quote(password, safe='')}@db.example.com:5432/incidents?{query}{more}"
    ),
    scheme=st.sampled_from(["postgresql", "postgres", "postgresql+asyncpg", "mysql", "sqlite"]),
    password=st.text(max_size=20).map(lambda text: "S3CRET" + text),
    query=st.sampled_from(
        ["", "sslmode=require&", "connect_timeout=soon&", "options=-c%20'unclosed&"]
    ),
    more=st.text(max_size=30),
)


@settings(max_examples=300)
@given(url=st.one_of(st.text(max_size=60), database_urls))
def test_any_database_url_is_read_or_refused_without_repeating_a_password(url: str) -> None:
    """DATABASE_URL is typed by hand: whatever it holds, the answer is a target or one
    ValueError, and neither shows the password."""
    target = target_or_refusal(url)
    assert "S3CRET" not in repr(target)
    if isinstance(target, str):
        return
    if target.postgres and "bot:S3CRET" in url:
        password = unquote(url.partition("bot:")[2].partition("@")[0])
        assert urlsplit(target.dsn).password is not None
        assert unquote(urlsplit(target.dsn).password or "") == password


async def test_bots_in_two_schemas_of_one_database_never_wait_for_each_others_locks() -> None:
    """Staging and production in one PostgreSQL database: advisory locks are per database."""
    async with (
        postgres_schema() as staging,
        postgres_schema() as production,
        opened_store(staging) as first,
        opened_store(production) as second,
        first.exclusive("incident:P1", timedelta(seconds=5)),
        second.exclusive("incident:P1", timedelta(seconds=0.5)),  # no TimeoutError
    ):
        pass


async def test_a_store_reconnects_after_postgresql_dropped_its_connections(
    postgres_url: str,
) -> None:
    """A database restart or failover: the pool's connections are gone; the next claim
    opens a new one instead of failing on a dead one."""
    name = f"incident-bot-test-{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url}&application_name={name}"  # passed on to the server
    admin = await asyncpg.connect(PG_URL)
    try:
        async with opened_store(url) as store:
            assert await store.claim("before")
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1",
                name,
            )
            assert ended >= 1
            await asyncio.sleep(0.2)  # the server's goodbye reaches the pool
            assert await store.claim("after")
            assert await store.ping()
    finally:
        await admin.close()


async def test_a_sqlite_file_whose_path_has_url_characters_is_created_and_migrated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "on call #1" / "bot?v=2 100%.db"
    path.parent.mkdir()
    url = f"sqlite:///{quote(str(path))}"
    async with opened_store(url) as store:
        assert await store.claim("first")
    assert path.is_file()
    assert await read_directly(url, "SELECT key FROM claims") == [("first",)]
