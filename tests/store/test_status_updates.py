"""Each incident's latest status update, on SQLite and PostgreSQL: the newest wins, the same
update told twice stays one entry, and it goes with the retention once no card shows it."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.store import CardRef, Forgotten, PublishedUpdate, Retention, Store

AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


async def test_a_newer_update_replaces_the_stored_one_and_an_older_one_never_does(
    store: Store, replica: Store
) -> None:
    first = PublishedUpdate("investigating", AT, "PSTU001")
    assert await store.record_status_update("P1", first)
    assert await replica.latest_status_update("P1") == first

    newer = PublishedUpdate("rolled back", AT + timedelta(minutes=5), "PSTU002")
    assert await replica.record_status_update("P1", newer)
    late = PublishedUpdate("deploying a fix", AT + timedelta(minutes=1), "PSTU003")
    assert not await store.record_status_update("P1", late)  # a webhook arriving late

    assert await store.latest_status_update("P1") == newer
    assert await store.latest_status_update("P2") is None


async def test_our_post_and_its_trimmed_echo_are_one_entry_whichever_comes_first(
    store: Store,
) -> None:
    message = "rolled back the deploy; " * 40
    posted = PublishedUpdate(message, AT, "PSTU001")  # the POST's answer
    # The webhook: the same id, the text trimmed, dated when the event occurred.
    echo = PublishedUpdate(message[:500], AT + timedelta(seconds=2), "PSTU001")

    assert await store.record_status_update("P1", posted)
    assert not await store.record_status_update("P1", echo)
    assert not await store.record_status_update("P1", posted)  # a repeat changes nothing
    assert await store.latest_status_update("P1") == posted

    assert await store.record_status_update("P2", echo)  # the webhook won the race
    assert await store.record_status_update("P2", posted)
    assert not await store.record_status_update("P2", echo)  # redelivered
    assert await store.latest_status_update("P2") == posted


async def test_without_an_id_the_same_message_is_the_same_update(store: Store) -> None:
    assert await store.record_status_update("P1", PublishedUpdate("rolled back", AT, "PSTU001"))
    later_without_id = PublishedUpdate("rolled back", AT + timedelta(seconds=2))
    assert not await store.record_status_update("P1", later_without_id)
    assert await store.latest_status_update("P1") == PublishedUpdate("rolled back", AT, "PSTU001")

    something_else = PublishedUpdate("all clear", AT + timedelta(minutes=1))
    assert await store.record_status_update("P1", something_else)
    assert await store.latest_status_update("P1") == something_else


async def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="aware"):
        await store.record_status_update("P1", PublishedUpdate("x", datetime(2026, 1, 1)))


async def test_the_updates_of_incidents_with_open_cards_are_read_in_one_go(store: Store) -> None:
    for incident_id in ("P1", "P2", "P3"):
        await store.record_status_update(incident_id, PublishedUpdate(incident_id, AT))
    await store.save_card("P1", CardRef("C1", "1.1"))
    await store.save_card("P1", CardRef("C2", "1.2"))
    await store.save_card("P2", CardRef("C1", "2.1"))
    await store.mark_cards_closed("P2")
    await store.save_card("P4", CardRef("C1", "4.1"))  # no update: not listed

    assert await store.latest_status_updates_with_open_cards() == {"P1": PublishedUpdate("P1", AT)}


async def test_old_updates_are_forgotten_once_no_open_card_shows_them(database_url: str) -> None:
    # A second of retention: P-FRESH must stay fresh across five store calls on a busy CPU.
    retention = timedelta(seconds=1)
    store = Store(database_url, Retention(events=retention))
    await store.open()
    try:
        for incident_id in ("P-OPEN", "P-CLOSED", "P-NO-CARD", "P-FRESH"):
            if incident_id == "P-FRESH":
                await asyncio.sleep(retention.total_seconds() * 1.2)
            await store.record_status_update(incident_id, PublishedUpdate(incident_id, AT))
        await store.save_card("P-OPEN", CardRef("C1", "1.1"))
        await store.save_card("P-CLOSED", CardRef("C1", "2.1"))
        await store.mark_cards_closed("P-CLOSED")

        assert await store.forget_expired() == Forgotten(events=0, audit_rows=0, status_updates=2)

        assert await store.latest_status_update("P-OPEN") is not None
        assert await store.latest_status_update("P-FRESH") is not None
        assert await store.latest_status_update("P-CLOSED") is None
        assert await store.latest_status_update("P-NO-CARD") is None
    finally:
        await store.close()
