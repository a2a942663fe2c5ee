"""Shared card state (issue 15) on SQLite and PostgreSQL: digests, last actions, echoes,
intents to post."""

import asyncio
from datetime import UTC, datetime, timedelta

from app.store import CardRef, LastAction, PostTurn, Store

LEASE = timedelta(seconds=30)
TINY = timedelta(milliseconds=50)


async def test_a_card_has_no_digest_until_one_is_set_and_then_the_newest(store: Store) -> None:
    card = CardRef("C1", "1.1")
    assert await store.card_digest(card) is None
    await store.set_card_digest(card, "aaa")
    await store.set_card_digest(card, "bbb")
    assert await store.card_digest(card) == "bbb"
    assert await store.card_digest(CardRef("C1", "2.2")) is None  # a new message starts blank


async def test_our_last_action_is_shared_between_two_stores_and_a_late_one_never_wins(
    store: Store, replica: Store
) -> None:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    newer = LastAction("Alice Adams", "ack", "", at)
    await store.record_own_action("P1", newer)
    assert await replica.last_action("P1") == newer
    assert await replica.is_own_echo("P1", "ack", timedelta(seconds=60))
    await replica.record_own_action("P1", LastAction("Bob", "resolve", "done", at - LEASE))
    assert await store.last_action("P1") == newer
    resolved = LastAction("Bob", "resolve", "fixed", at + LEASE)
    await replica.record_own_action("P1", resolved)
    assert await store.last_action("P1") == resolved
    assert await store.last_action("P2") is None


async def test_the_digests_and_last_actions_of_open_cards_are_read_in_one_go(
    store: Store,
) -> None:
    at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    open_here, open_there, closed = CardRef("C1", "1.1"), CardRef("C2", "1.2"), CardRef("C1", "2.1")
    await store.save_card("P1", open_here)
    await store.save_card("P1", open_there)
    await store.save_card("P2", closed)
    await store.mark_cards_closed("P2")
    await store.save_card("P3", CardRef("C1", "3.1"))  # open, but no digest nor action yet
    for card, digest in ((open_here, "aaa"), (open_there, "bbb"), (closed, "ccc")):
        await store.set_card_digest(card, digest)
    for incident_id in ("P1", "P2", "P4"):  # P4 has no card at all
        await store.record_own_action(incident_id, LastAction("Alice", "ack", "", at))

    assert await store.open_card_digests() == {open_here: "aaa", open_there: "bbb"}
    assert await store.last_actions_with_open_cards() == {"P1": LastAction("Alice", "ack", "", at)}


async def test_an_action_noted_on_one_replica_is_an_echo_on_another_within_the_window(
    store: Store, replica: Store
) -> None:
    await store.note_own_action("P1", "ack")
    assert await replica.is_own_echo("P1", "ack", timedelta(seconds=60))
    assert not await replica.is_own_echo("P1", "resolve", timedelta(seconds=60))
    assert not await replica.is_own_echo("P2", "ack", timedelta(seconds=60))
    await asyncio.sleep(TINY.total_seconds() * 3)
    assert not await replica.is_own_echo("P1", "ack", TINY)
    assert await replica.forget_own_actions(TINY) == 1
    assert not await replica.is_own_echo("P1", "ack", timedelta(seconds=60))


async def test_actions_noted_together_are_each_an_echo(store: Store, replica: Store) -> None:
    # A storm of notes on one incident wakes together; the same pair twice in one batch
    # must not fail the statement (PostgreSQL refuses to touch a row twice in one).
    noted = [("P1", "note")] * 20 + [("P2", "ack"), ("P1", "ack")]
    await asyncio.gather(*(store.note_own_action(i, verb) for i, verb in noted))

    for incident_id, verb in set(noted):
        assert await replica.is_own_echo(incident_id, verb, timedelta(seconds=60))
    assert not await replica.is_own_echo("P2", "note", timedelta(seconds=60))


async def test_the_first_to_begin_a_post_posts_and_a_second_holder_waits(store: Store) -> None:
    assert (await store.begin_post("P1", "C1", "a", LEASE)).turn is PostTurn.POST
    assert (await store.begin_post("P1", "C1", "b", LEASE)).turn is PostTurn.BUSY
    assert (await store.begin_post("P1", "C2", "b", LEASE)).turn is PostTurn.POST
    assert await store.complete_post("P1", CardRef("C1", "1.1"))
    decision = await store.begin_post("P1", "C1", "b", LEASE)
    assert decision.turn is PostTurn.POSTED
    assert decision.card == CardRef("C1", "1.1")
    assert await store.unfinished_posts() == [("P1", "C2")]


async def test_a_post_that_crashed_before_it_was_recorded_is_recovered_not_posted_again(
    store: Store,
) -> None:
    assert (await store.begin_post("P1", "C1", "crashed", TINY)).turn is PostTurn.POST
    # the replica posted the card and died before complete_post
    await asyncio.sleep(TINY.total_seconds() * 3)
    assert await store.unfinished_posts() == [("P1", "C1")]
    assert (await store.begin_post("P1", "C1", "next", LEASE)).turn is PostTurn.RECOVER
    assert await store.complete_post("P1", CardRef("C1", "found-by-metadata"))
    assert await store.find_card("P1", "C1") == CardRef("C1", "found-by-metadata")
    assert await store.unfinished_posts() == []


async def test_the_same_holder_retrying_its_own_unfinished_post_recovers_it(store: Store) -> None:
    assert (await store.begin_post("P1", "C1", "a", LEASE)).turn is PostTurn.POST
    assert (await store.begin_post("P1", "C1", "a", LEASE)).turn is PostTurn.RECOVER


async def test_an_abandoned_post_can_be_posted_afresh(store: Store) -> None:
    await store.begin_post("P1", "C1", "a", LEASE)
    await store.abandon_post("P1", "C1", "someone-else")  # not theirs: kept
    assert (await store.begin_post("P1", "C1", "b", LEASE)).turn is PostTurn.BUSY
    await store.abandon_post("P1", "C1", "a")
    assert (await store.begin_post("P1", "C1", "b", LEASE)).turn is PostTurn.POST


async def test_completing_a_post_keeps_a_card_recorded_meanwhile(store: Store) -> None:
    await store.save_card("P1", CardRef("C1", "first"))
    assert not await store.complete_post("P1", CardRef("C1", "second"))
    assert await store.find_card("P1", "C1") == CardRef("C1", "first")


async def test_twenty_concurrent_begins_from_two_stores_give_exactly_one_post(
    store: Store, replica: Store
) -> None:
    decisions = await asyncio.gather(
        *((store if n % 2 else replica).begin_post("P1", "C1", f"h{n}", LEASE) for n in range(20))
    )
    turns = sorted(d.turn for d in decisions)
    assert turns.count(PostTurn.POST) == 1
    assert turns.count(PostTurn.BUSY) == 19
