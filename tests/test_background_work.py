"""Background work that follows changes (issue 15): events in order per incident and
concurrent across incidents, new cards at each channel's pace, redraws only for changes,
no second card after a crash, ready before catching up."""

import asyncio
from datetime import timedelta

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.ids import CARD_METADATA_EVENT
from app.settings import Settings
from app.store import CardRef, Store
from tests.conftest import Bot, cards_posted, running_bot
from tests.test_webhook_kinds import status_update_line, status_update_published
from tests.test_webhooks import INCIDENT_123, webhook

SEARCH = ("PSVC009", "Search")  # no route of its own: its cards go to C0INCIDENTS


def thread_lines(slack: SlackStandIn) -> list[str]:
    return [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts")]


def incident_of(card: dict[str, object]) -> str:
    metadata = card["metadata"]
    assert isinstance(metadata, dict)
    return str(metadata["event_payload"]["incident_id"])


async def show_cards_of_123_and_500(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn, *, id_500: str, title: str
) -> None:
    """Post #123's card and one for a #500 added with `id_500` (a restart compares cards in
    incident-id order, so the id decides which comes first)."""
    pagerduty.add_incident(500, id=id_500, title=title, service_id="PSVC001", policy_id="PEPOL01")
    await bot.command("show 123")
    await bot.command("show 500")
    await slack.wait_for(lambda s: len(cards_posted(s)) == 2)


def reads_since(pagerduty: PagerDutyStandIn, requests: int) -> list[str]:
    """The paths PagerDuty was sent GETs for since its first `requests` requests."""
    return [r.path for r in pagerduty.requests[requests:] if r.method == "GET"]


async def test_events_about_one_incident_are_applied_in_the_order_they_arrived(
    bot: Bot, slack: SlackStandIn
) -> None:
    await bot.webhook(webhook("incident.triggered"))
    kinds = ["incident.priority_updated", "incident.delegated", "incident.reopened"]
    kinds += ["incident.escalated", "incident.reassigned"]

    for kind in kinds:
        await bot.webhook(webhook(kind))

    await slack.wait_for(lambda s: len(thread_lines(s)) == len(kinds), timeout=15)
    said = ["changed the priority", "delegated", "reopened", "escalated", "reassigned"]
    assert thread_lines(slack) == [f"Bob Builder {what} (in PagerDuty)" for what in said]


async def test_a_storm_in_one_channel_never_holds_up_another_channels_card(
    bot: Bot, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.post_rate_per_channel = 1.0  # as Slack: about one post a second per channel
    storm = [
        pagerduty.add_incident(
            300 + n, id=f"PSTORM{n}X", title=f"storm {n}", service_id="PSVC001", policy_id="PEPOL01"
        )["id"]
        for n in range(4)
    ]
    pagerduty.add_service(*SEARCH)
    pagerduty.add_incident(
        400, id="PQUIET1", title="quiet", service_id=SEARCH[0], policy_id="PEPOL01"
    )

    for incident_id in storm:
        await bot.webhook(webhook("incident.triggered", incident_id=incident_id))
    await bot.webhook(webhook("incident.triggered", incident_id="PQUIET1", service=SEARCH))

    await slack.wait_for(lambda s: any(c["channel"] == "C0INCIDENTS" for c in cards_posted(s)))
    assert len(cards_posted(slack)) < 5  # the storm's channel is still taking its turns
    await slack.wait_for(lambda s: len(cards_posted(s)) == 5, timeout=15)
    assert sorted(incident_of(card) for card in cards_posted(slack)) == sorted([*storm, "PQUIET1"])


async def test_a_new_card_waits_out_any_number_of_rate_limits_and_is_posted_once(
    bot: Bot, slack: SlackStandIn
) -> None:
    # More 429s than the inbox's attempts at an event, and than the client's own retries.
    slack.fail_next("chat.postMessage", status=429, headers={"Retry-After": "0"}, times=10)

    await bot.webhook(webhook("incident.triggered"))

    await slack.wait_for(lambda s: len(cards_posted(s)) == 11, timeout=20)
    accepted = [c for c in slack.messages.get("C0CHECKOUT", []) if "metadata" in c]
    assert [incident_of(card) for card in accepted] == [INCIDENT_123]


async def test_a_card_posted_before_a_crash_but_never_recorded_is_found_not_posted_again(
    settings: Settings, slack: SlackStandIn
) -> None:
    store = Store(settings.database_url)
    await store.open()
    # A process that died after Slack took its post, before it could record it.
    await store.begin_post(INCIDENT_123, "C0CHECKOUT", "crashed-replica", timedelta(0))
    metadata = {"event_type": CARD_METADATA_EVENT, "event_payload": {"incident_id": INCIDENT_123}}
    slack.add_message("C0CHECKOUT", "1700000000.000100", "Incident #123", metadata)
    await store.close()

    async with running_bot(settings, slack) as bot:
        await bot.webhook(webhook("incident.triggered"))
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    assert cards_posted(slack) == []
    assert slack.calls_to("chat.update")[0].args["ts"] == "1700000000.000100"
    await store.open()
    try:
        assert await store.find_card(INCIDENT_123, "C0CHECKOUT") == CardRef(
            "C0CHECKOUT", "1700000000.000100"
        )
        assert await store.unfinished_posts() == []
    finally:
        await store.close()


async def test_a_restart_redraws_only_the_cards_whose_incident_changed(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(settings, slack) as bot:
        await show_cards_of_123_and_500(
            bot, slack, pagerduty, id_500="PZCHANGED", title="will change"
        )
    pagerduty.incidents["PZCHANGED"]["status"] = "acknowledged"  # while the bot was down
    before = len(pagerduty.requests)

    async with running_bot(settings, slack):
        # Open cards are compared in incident-id order, so PT4KHLK's came first.
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)

    [update] = slack.calls_to("chat.update")
    assert update.args["metadata"]["event_payload"]["incident_id"] == "PZCHANGED"
    # drawn from the listing, found unchanged
    assert f"/incidents/{INCIDENT_123}" not in reads_since(pagerduty, before)


async def test_a_restart_keeps_each_cards_last_action_and_redraws_no_card_for_it(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(settings, slack) as bot:
        await show_cards_of_123_and_500(
            bot, slack, pagerduty, id_500="PZCHANGED", title="will change"
        )
        await bot.command("ack 123")  # the card now shows who acknowledged it
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 1)
    pagerduty.incidents["PZCHANGED"]["urgency"] = "low"  # while the bot was down
    before, requests = len(slack.calls_to("chat.update")), len(pagerduty.requests)

    async with running_bot(settings, slack):
        # PT4KHLK's card is compared first, with its last action read in the one bulk read.
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == before + 1)

    [redraw] = slack.calls_to("chat.update")[before:]
    assert redraw.args["metadata"]["event_payload"]["incident_id"] == "PZCHANGED"
    # drawn from the listing, found unchanged
    assert f"/incidents/{INCIDENT_123}" not in reads_since(pagerduty, requests)


async def test_a_restart_keeps_each_cards_status_update_and_redraws_no_card_for_it(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    async with running_bot(settings, slack) as bot:
        # PA… sorts before PT4KHLK: its card is compared first, found unchanged.
        await show_cards_of_123_and_500(
            bot, slack, pagerduty, id_500="PAUPDATED", title="stays as it is"
        )
        await bot.reply_to("update 500 posted through the bot")
        await bot.webhook(status_update_published("published in PagerDuty"))
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == 2)
    pagerduty.incidents[INCIDENT_123]["urgency"] = "low"  # while the bot was down
    before, requests = len(slack.calls_to("chat.update")), len(pagerduty.requests)

    async with running_bot(settings, slack):
        await slack.wait_for(lambda s: len(s.calls_to("chat.update")) == before + 1)

    [redraw] = slack.calls_to("chat.update")[before:]
    assert redraw.args["metadata"]["event_payload"]["incident_id"] == INCIDENT_123
    assert "published in PagerDuty" in status_update_line(redraw.args)
    # drawn from the listing, found unchanged
    assert "/incidents/PAUPDATED" not in reads_since(pagerduty, requests)


async def test_the_bot_is_ready_before_its_catch_up_is_done(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    store = Store(settings.database_url)
    await store.open()
    await store.accept_event("01STOREDBEFORESTART0000000", webhook("incident.triggered").decode())
    await store.close()
    pagerduty.latency = 0.5  # the catch-up is slow (three reads before the card)

    async with running_bot(settings, slack) as bot:
        ready = await bot.http.get("/readyz")
        assert ready.status_code == 200
        assert cards_posted(slack) == []  # the stored event is still being applied
        await slack.wait_for(lambda s: len(cards_posted(s)) == 1, timeout=10)


async def test_stopping_during_the_catch_up_hands_the_events_back_at_once(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    store = Store(settings.database_url)
    await store.open()
    await store.accept_event("01STOREDBEFORESTART0000000", webhook("incident.triggered").decode())
    pagerduty.latency = 0.5  # the catch-up is still reading when the bot stops

    async with running_bot(settings, slack) as bot:
        await bot.http.get("/readyz")
        await pagerduty_asked(pagerduty)

    try:
        # Not leased by the stopped process: the next one takes it without waiting.
        [pending] = await store.pending_events(unleased=True)
        assert pending.event_id == "01STOREDBEFORESTART0000000"
    finally:
        await store.close()
    assert cards_posted(slack) == []


async def pagerduty_asked(pagerduty: PagerDutyStandIn) -> None:
    async with asyncio.timeout(5):
        while not pagerduty.requests:  # noqa: ASYNC110 - the stand-in signals nothing
            await asyncio.sleep(0.01)
