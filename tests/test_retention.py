"""History is not kept forever: the periodic job deletes webhook events (with their bodies)
and audit rows past RETENTION_EVENT_DAYS and RETENTION_AUDIT_DAYS."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.demo.slack import SlackStandIn
from app.settings import ConfigError, Settings, load_settings
from app.store import AuditEntry, Retention, Store
from tests.conftest import running_bot


async def audit_incidents(database_url: str) -> list[str]:
    store = Store(database_url)
    await store.open()
    try:
        return [entry.incident for entry in await store.audit()]
    finally:
        await store.close()


async def test_the_periodic_job_deletes_audit_rows_older_than_the_retention(
    settings: Settings, slack: SlackStandIn
) -> None:
    store = Store(settings.database_url)
    await store.open()
    now = datetime.now(UTC)
    for age, incident in ((3, "P-THREE-DAYS"), (0, "P-TODAY")):
        await store.record(AuditEntry(now - timedelta(days=age), "U1", "ack", incident, "done"))
    await store.close()
    short = settings.model_copy(
        update={"retention_audit_days": 2, "reconcile_interval_seconds": 0.2}
    )

    async with running_bot(short, slack):
        for _ in range(50):  # the job runs every 0.2 s; 10 s at most
            if await audit_incidents(settings.database_url) == ["P-TODAY"]:
                break
            await asyncio.sleep(0.2)

    assert await audit_incidents(settings.database_url) == ["P-TODAY"]


def test_history_is_kept_30_days_for_events_and_365_for_audit_unless_configured() -> None:
    assert Settings.model_fields["retention_event_days"].default == 30
    assert Settings.model_fields["retention_audit_days"].default == 365
    assert Retention() == Retention(events=timedelta(days=30), audit=timedelta(days=365))


def test_a_retention_of_zero_days_is_refused_with_the_variable_named(settings: Settings) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(**{**settings.model_dump(), "_env_file": None, "retention_event_days": 0})
    assert refused.value.problems == [
        "RETENTION_EVENT_DAYS Input should be greater than or equal to 1"
    ]
