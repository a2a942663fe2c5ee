"""Issue 15's scenarios: a storm of new incidents, restarts with many open cards, a crash
with stored events, two replicas. Each returns its figures; bench/scale_report.py sets them
beside their targets. Every wait is capped, so a bot that misses a target still finishes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from app.demo.server import serve_on_loopback
from app.demo.signing import interactivity_body, signed_headers
from app.ids import ActionId
from app.store import CardRef, Store
from bench.fleet import (
    OTHER_CHANNEL,
    OTHER_SERVICE,
    SEEDED_CHANNELS,
    SHUTDOWN_GRACE_S,
    STORM_CHANNEL,
    STORM_SERVICE,
    Fleet,
    kill,
    launch,
    send_webhook,
    stamp_posts,
    webhook_body,
)
from bench.servers import Pinning, Server, free_port, start_server
from bench.world import SIGNING_SECRET
from tests.conftest import PG_URL, Bot, postgres_schema

OTHER_AFTER_S = 3.0  # the other channel's incident triggers this long into the storm
CHANGED_WHILE_DOWN = 5


@contextlib.asynccontextmanager
async def world(database_url: str | None = None) -> AsyncIterator[Fleet]:
    with tempfile.TemporaryDirectory(prefix="incident-bot-scale-") as tmp:
        fleet = Fleet.create(Path(tmp), database_url)
        stamp_posts(fleet.slack)
        async with (
            serve_on_loopback(fleet.pagerduty.app) as pagerduty_url,
            serve_on_loopback(fleet.slack.app) as slack_url,
        ):
            fleet.pagerduty_url, fleet.slack_url = pagerduty_url, slack_url
            fleet.slack.url = slack_url  # type: ignore[attr-defined]  # as tests' fixture sets it
            yield fleet


async def _start(fleet: Fleet, name: str, ready_cap: float) -> Server:
    return await launch(name, fleet.env(0), fleet.workdir, ready_cap)


async def _until(condition: Any, cap: float) -> bool:
    deadline = time.perf_counter() + cap
    while not condition():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _floor_ready(fleet: Fleet) -> float:
    """How long the bare Bolt app (`bench.floor`) takes to answer /readyz here and now: a
    start's cost before the bot adds anything, beside which the bot's start is read."""
    port = free_port()
    args = ["bench.floor", "--port", str(port), "--signing-secret", SIGNING_SECRET]
    args += ["--slack-api-url", f"{fleet.slack_url}/api/"]
    unpinned = Pinning(None, None, "unpinned, as the bot in these scenarios")
    floor = await start_server("floor", args, dict(os.environ), port, fleet.workdir, unpinned)
    await floor.stop()
    return round(floor.ready_seconds, 3)


def _ready(server: Server) -> float | None:
    return round(server.ready_seconds, 3) if server.ready_seconds >= 0 else None


async def storm(size: int, background: int, wait: float, ready_cap: float) -> dict[str, Any]:
    """`size` incidents trigger at once on one service; OTHER_AFTER_S later one on another."""
    async with world() as fleet:
        await fleet.seed_open_cards(background)
        bot = await _start(fleet, "storm", ready_cap)
        try:
            if bot.ready_seconds < 0:
                return {"size": size, "background": background, "error": "not ready"}
            reads_before = len(fleet.pagerduty.requests)
            incidents = [fleet.new_incident(STORM_SERVICE) for _ in range(size)]
            started = time.perf_counter()
            async with aiohttp.ClientSession() as http:
                storm_answers = asyncio.gather(
                    *(
                        send_webhook(http, bot.url, webhook_body("incident.triggered", i))
                        for i in incidents
                    )
                )
                await asyncio.sleep(OTHER_AFTER_S)
                other = fleet.new_incident(OTHER_SERVICE)
                other_sent = time.perf_counter()
                other_answer = await send_webhook(
                    http, bot.url, webhook_body("incident.triggered", other)
                )
                answers = [*await storm_answers, other_answer]
            wanted = {i["id"] for i in incidents} | {other["id"]}
            await _until(lambda: wanted <= fleet.cards_posted().keys(), wait)
            posted = fleet.cards_posted()
            storm_firsts = [min(posted[i["id"]]) for i in incidents if i["id"] in posted]
            other_at = min(posted[other["id"]]) if other["id"] in posted else None
            reads = [r for r in fleet.pagerduty.requests[reads_before:] if r.method == "GET"]
            return {
                "size": size,
                "background": background,
                "other_channel_card_s": round(other_at - other_sent, 2) if other_at else None,
                "storm_cards_posted": len(storm_firsts),
                "duplicates": sum(len(posted.get(i, [])) > 1 for i in wanted),
                "last_card_s": round(max(storm_firsts) - started, 1)
                if len(storm_firsts) == size
                else None,
                "waited_s": round(time.perf_counter() - started, 1),
                "pagerduty_reads_per_card": round(len(reads) / len(wanted), 2),
                "webhook_slowest_s": round(max(t for _, t in answers), 3),
                "webhooks_not_2xx": sum(not 200 <= s < 300 for s, _ in answers),
                "channels": [STORM_CHANNEL, OTHER_CHANNEL],
            }
        finally:
            await bot.stop()


async def restart(open_cards: int, observe: float, ready_cap: float) -> dict[str, Any]:
    """Restart with `open_cards` up-to-date cards; then again after CHANGED_WHILE_DOWN of
    them changed while the bot was down."""
    async with world() as fleet:
        await fleet.seed_open_cards(open_cards)
        floor_ready = await _floor_ready(fleet)
        calls, requests = len(fleet.slack.calls), len(fleet.pagerduty.requests)
        bot = await _start(fleet, "restart-unchanged", ready_cap)
        started = bot.started_at
        await asyncio.sleep(max(0.0, started + observe - time.perf_counter()))
        unchanged = {
            "ready_s": _ready(bot),
            "floor_ready_s": floor_ready,
            "pagerduty_calls": len(fleet.pagerduty.requests) - requests,
            "chat_updates": len(fleet.updates(calls)),
        }
        await bot.stop()
        unchanged["sigterm_exit_s"] = bot.stop_seconds
        unchanged["sigterm_forced"] = bot.stop_forced  # still running 15 s on: SIGKILLed

        changed_ids = list(fleet.seeded)[:CHANGED_WHILE_DOWN]
        for incident_id in changed_ids:
            fleet.pagerduty.incidents[incident_id]["status"] = "acknowledged"
        changed_cards = {f"{c.channel}:{c.ts}" for i, c in fleet.seeded.items() if i in changed_ids}
        calls = len(fleet.slack.calls)
        bot = await _start(fleet, "restart-changed", ready_cap)
        redrawn_at: dict[str, float] = {}
        while time.perf_counter() < bot.started_at + observe:
            for card in set(fleet.updates(calls)) & changed_cards:
                redrawn_at.setdefault(card, time.perf_counter() - bot.started_at)
            await asyncio.sleep(0.1)
        others = set(fleet.updates(calls)) - changed_cards
        await bot.stop()
        return {
            "open_cards": open_cards,
            "observed_s": observe,
            "unchanged": unchanged,
            "changed": {
                "ready_s": _ready(bot),
                "redrawn": len(redrawn_at),
                "last_redrawn_s": round(max(redrawn_at.values()), 1)
                if len(redrawn_at) == CHANGED_WHILE_DOWN
                else None,
                "other_cards_redrawn": len(others),
            },
        }


async def crash(events: int, wait: float, ready_cap: float) -> dict[str, Any]:
    """SIGKILL with `events` webhooks stored, unprocessed; SIGTERM during the catch-up; then
    a restart that must apply each exactly once (here: one card per triggered incident)."""
    async with world() as fleet:
        bot = await _start(fleet, "crash-first", ready_cap)
        fleet.pagerduty.latency = 60.0  # processing hangs on PagerDuty: events stay stored
        incidents = [fleet.new_incident(f"PSVCSEED{n % SEEDED_CHANNELS}") for n in range(events)]
        async with aiohttp.ClientSession() as http:
            answers = await asyncio.gather(
                *(
                    send_webhook(http, bot.url, webhook_body("incident.triggered", i))
                    for i in incidents
                )
            )
        await kill(bot)
        fleet.pagerduty.latency = 0.0
        accepted = sum(200 <= s < 300 for s, _ in answers)

        floor_ready = await _floor_ready(fleet)
        interrupted = await _start(fleet, "crash-sigterm", ready_cap)
        await asyncio.sleep(2.0)  # into the catch-up
        await interrupted.stop()

        final = await _start(fleet, "crash-final", ready_cap)
        store = Store(fleet.database_url)
        await store.open()
        try:
            pending: list[Any] = []

            async def drained() -> bool:
                pending[:] = await store.pending_events(limit=events)
                return not pending

            deadline = final.started_at + wait
            # Polls the bot's store: another process, which no asyncio.Event could signal.
            while not await drained() and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
        finally:
            await store.close()
            await final.stop()
        posted = fleet.cards_posted()
        ids = [i["id"] for i in incidents]
        return {
            "events": events,
            "accepted_before_kill": accepted,
            "ready_after_kill_s": _ready(interrupted),
            "floor_ready_s": floor_ready,
            "sigterm_exit_s": interrupted.stop_seconds,
            "sigterm_forced": interrupted.stop_forced,
            "grace_s": SHUTDOWN_GRACE_S,
            "final_ready_s": _ready(final),
            "still_pending": len(pending),
            "applied": sum(i in posted for i in ids),
            "applied_twice": sum(len(posted.get(i, [])) > 1 for i in ids),
            "waited_s": round(time.perf_counter() - final.started_at, 1),
        }


async def replicas(wait: float, ready_cap: float) -> dict[str, Any]:
    """Two bots on one PostgreSQL store: Alice acknowledges on A, PagerDuty's webhook about
    it lands on B; then B restarts and redraws the card."""
    if not PG_URL:
        return {"skipped": "needs PostgreSQL: set TEST_DATABASE_URL"}
    async with postgres_schema() as url, world(url) as fleet:
        first = await _start(fleet, "replica-a", ready_cap)
        second = await _start(fleet, "replica-b", ready_cap)
        try:
            incident = fleet.new_incident(OTHER_SERVICE)
            async with aiohttp.ClientSession() as http:
                await send_webhook(http, first.url, webhook_body("incident.triggered", incident))
                if not await _until(lambda: incident["id"] in fleet.cards_posted(), wait):
                    return {"error": "no card posted"}
                [message] = [
                    m
                    for m in fleet.slack.messages[OTHER_CHANNEL]
                    if (m.get("metadata") or {}).get("event_payload", {}).get("incident_id")
                    == incident["id"]
                ]
                card = {**message, "channel": OTHER_CHANNEL}
                async with httpx.AsyncClient(base_url=first.url) as client:
                    # Signed with the bench's secret, which the bots were given.
                    payload = Bot(client, fleet.slack).click_payload(card, ActionId.ACKNOWLEDGE)
                    click = interactivity_body(payload)
                    form = "application/x-www-form-urlencoded"
                    headers = signed_headers(SIGNING_SECRET, click, form)
                    await client.post("/slack/events", content=click, headers=headers)
                stored = fleet.pagerduty.incidents  # a write replaces the incident's dict
                if not await _until(
                    lambda: stored[incident["id"]]["status"] == "acknowledged", wait
                ):
                    return {"error": "the click on A did not acknowledge the incident"}
                body = webhook_body("incident.acknowledged", incident, agent="Alice Example")
                await send_webhook(http, second.url, body)
                await asyncio.sleep(5.0)  # B's line, if it writes one, lands by then
                ref = fleet.cards_posted()
                thread = fleet.thread_lines(CardRef(OTHER_CHANNEL, message["ts"]))
                lines = [line for line in thread if "acknowledg" in line.lower()]
                await first.stop()
                await second.stop()
                second = await _start(fleet, "replica-b-again", ready_cap)
                calls = len(fleet.slack.calls)
                stored[incident["id"]]["urgency"] = "low"  # a real change: the card redraws
                body = webhook_body("incident.priority_updated", incident)
                await send_webhook(http, second.url, body)
                await _until(lambda: bool(fleet.updates(calls)), wait)
                redraws = [c.args for c in fleet.slack.calls[calls:] if c.method == "chat.update"]
                last_action = [
                    block
                    for block in (redraws[-1].get("blocks") or [] if redraws else [])
                    if block.get("block_id") == "incident_last_action"
                ]
                kept = "Alice Example" in str(last_action)
            return {
                "cards": len(ref.get(incident["id"], [])),
                "acknowledged_lines_in_thread": len(lines),
                "thread": thread,
                "last_action_after_restart": kept if redraws else None,
            }
        finally:
            await first.stop()
            await second.stop()
