"""The world of issue 15's scenarios: many open incidents, their cards already in the bot's
store and in Slack, Slack at its real pace (1 post/s/channel), signed PagerDuty webhooks,
and bot processes started, killed and restarted on the same store."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from app.demo.slack import SlackStandIn
from app.ids import CARD_METADATA_EVENT
from app.incidents.cards import IncidentCards, card_digest
from app.incidents.installation import InstallationLookup
from app.incidents.outcomes import RecentActions
from app.pagerduty.client import PagerDutyClient
from app.store import CardRef, PublishedUpdate, Store
from bench.servers import REPO, Server, bot_env, free_port
from bench.world import BOT_TOKEN, PAGERDUTY_TOKEN, TimedPagerDuty, make_pagerduty, make_slack

WEBHOOK_SECRET = "bench-webhook-secret-5d2b"  # noqa: S105 - a stand-in secret
STORM_SERVICE, STORM_CHANNEL = "PSVCSTORM", "C0STORM"
OTHER_SERVICE, OTHER_CHANNEL = "PSVCOTHER", "C0OTHER"
SHUTDOWN_GRACE_S = 5.0  # the bot's SHUTDOWN_GRACE_SECONDS in these scenarios
SEEDED_CHANNELS = 10  # seeded cards spread over these, so thread lines are not one queue
STATUS_UPDATE_EVERY = 3
POLICY = "PEPOL01"  # seed_default's three-level policy


@dataclass
class Fleet:
    """Stand-ins plus the bot's working directory; `seeded` maps incident id -> its card."""

    pagerduty: TimedPagerDuty
    slack: SlackStandIn
    workdir: Path
    database_url: str
    slack_url: str = ""
    pagerduty_url: str = ""
    seeded: dict[str, CardRef] = field(default_factory=dict)
    seeded_ts: set[str] = field(default_factory=set)
    _numbers: int = 1000

    @classmethod
    def create(cls, workdir: Path, database_url: str | None) -> Fleet:
        pagerduty, slack = make_pagerduty(0.0), make_slack()
        slack.post_rate_per_channel = 1.0  # as Slack: about one post a second per channel
        pagerduty.add_service(STORM_SERVICE, "Storm service")
        pagerduty.add_service(OTHER_SERVICE, "Other service")
        for n in range(SEEDED_CHANNELS):
            pagerduty.add_service(f"PSVCSEED{n}", f"Seeded service {n}")
        url = database_url or f"sqlite:///{workdir}/bot.db"
        return cls(pagerduty, slack, workdir, url)

    def routes_file(self) -> Path:
        path = self.workdir / "routes.yml"
        services = {STORM_SERVICE: STORM_CHANNEL, OTHER_SERVICE: OTHER_CHANNEL}
        services |= {f"PSVCSEED{n}": f"C0SEED{n}" for n in range(SEEDED_CHANNELS)}
        lines = ["default: C0INCIDENTS", "services:"]
        lines += [f"  {service}: {channel}" for service, channel in services.items()]
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self, port: int) -> dict[str, str]:
        env = bot_env(self.slack_url, self.pagerduty_url, self.workdir, port)
        return {
            **env,
            "DATABASE_URL": self.database_url,
            "PAGERDUTY_WEBHOOK_SECRETS": WEBHOOK_SECRET,
            "CHANNEL_ROUTES_FILE": str(self.routes_file()),
            "SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_S),
        }

    # -- incidents and cards

    def new_incident(self, service: str, status: str = "triggered") -> dict[str, Any]:
        self._numbers += 1
        number = self._numbers
        return self.pagerduty.add_incident(
            number,
            id=f"PB{number:06d}",
            title=f"bench incident {number}",
            service_id=service,
            policy_id=POLICY,
            status=status,
        )

    async def seed_open_cards(self, count: int) -> None:
        """`count` open incidents whose cards the bot posted before it stopped: in PagerDuty,
        in the Slack channels and in the store (up to date, so nothing needs redrawing);
        every STATUS_UPDATE_EVERY-th with a status update on it."""
        store = Store(self.database_url)
        await store.open()
        try:
            for n in range(count):
                channel = f"C0SEED{n % SEEDED_CHANNELS}"
                incident = self.new_incident(f"PSVCSEED{n % SEEDED_CHANNELS}")
                ts = f"{1_700_000_000 + n}.000100"
                metadata = {
                    "event_type": CARD_METADATA_EVENT,
                    "event_payload": {"incident_id": incident["id"]},
                }
                self.slack.add_message(channel, ts, incident["title"], metadata)
                card = CardRef(channel, ts)
                await store.save_card(incident["id"], card)
                if n % STATUS_UPDATE_EVERY == 0:  # drawn from the store on every redraw
                    update = PublishedUpdate(f"update {n}", datetime.now(UTC), f"PSTU{n:05d}")
                    await store.record_status_update(incident["id"], update)
                self.seeded[incident["id"]] = card
                self.seeded_ts.add(ts)
            await self._record_digests(store)
        finally:
            await store.close()

    async def _record_digests(self, store: Store) -> None:
        """What the bot stored with each card it posted: the digest of what it drew."""
        pagerduty = PagerDutyClient(self.pagerduty_url, SecretStr(PAGERDUTY_TOKEN))
        slack = AsyncWebClient(token=BOT_TOKEN, base_url=f"{self.slack_url}/api/")
        cards = IncidentCards(
            slack, store, pagerduty, RecentActions(store), InstallationLookup(slack)
        )
        try:
            for incident in await pagerduty.list_open_incidents():
                if (ref := self.seeded.get(incident.id)) is not None:
                    await store.set_card_digest(ref, card_digest(await cards.card_for(incident)))
        finally:
            await pagerduty.aclose()

    # -- what the bot did

    def cards_posted(self) -> dict[str, list[float]]:
        """Incident id -> when each card for it was posted (not counting seeded ones)."""
        posted: dict[str, list[float]] = {}
        for messages in self.slack.messages.values():
            for message in messages:
                if "thread_ts" in message or message["ts"] in self.seeded_ts:
                    continue
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if "incident_id" in payload:
                    posted.setdefault(str(payload["incident_id"]), []).append(
                        float(message.get("_bench_at", 0.0))
                    )
        return posted

    def thread_lines(self, card: CardRef) -> list[str]:
        return [
            str(m.get("text", ""))
            for m in self.slack.messages.get(card.channel, [])
            if m.get("thread_ts") == card.ts and m["ts"] != card.ts
        ]

    def updates(self, since: int = 0) -> list[str]:
        """Channel:ts of each successful-looking chat.update since call index `since`."""
        return [
            f"{c.args.get('channel')}:{c.args.get('ts')}"
            for c in self.slack.calls[since:]
            if c.method == "chat.update"
        ]


def stamp_posts(slack: SlackStandIn) -> None:
    """Have the stand-in note when each message was posted (perf_counter)."""
    original = slack.add_message

    def add_message(*args: Any, **kwargs: Any) -> dict[str, Any]:
        message = original(*args, **kwargs)
        message["_bench_at"] = time.perf_counter()
        return message

    slack.add_message = add_message  # type: ignore[method-assign]


def webhook_body(event_type: str, incident: dict[str, Any], agent: str = "Bob Builder") -> bytes:
    """A PagerDuty v3 webhook about `incident` (the stand-in's own record of it)."""
    data = {
        "id": incident["id"],
        "type": "incident",
        "self": f"https://api.pagerduty.com/incidents/{incident['id']}",
        "html_url": incident["html_url"],
        "number": incident["incident_number"],
        "status": incident["status"],
        "incident_key": incident["incident_key"],
        "created_at": incident["created_at"],
        "title": incident["title"],
        "service": {k: incident["service"][k] for k in ("id", "summary", "type")},
        "assignees": [
            {k: a["assignee"][k] for k in ("id", "summary", "type")}
            for a in incident["assignments"]
        ],
        "escalation_policy": {
            "id": incident["escalation_policy"]["id"],
            "type": "escalation_policy_reference",
        },
        "teams": [],
        "priority": None,
        "urgency": incident["urgency"],
        "conference_bridge": None,
        "resolve_reason": None,
    }
    event = {
        "id": f"01{uuid.uuid4().hex[:24].upper()}",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "agent": {"id": "PBOB002", "summary": agent, "type": "user_reference"},
        "client": None,
        "data": data,
    }
    return json.dumps({"event": event}).encode()


async def send_webhook(http: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, float]:
    """POST a signed webhook; (status, seconds to answer), status 0 when it failed."""
    signature = "v1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "x-pagerduty-signature": signature}
    started = time.perf_counter()
    try:
        async with http.post(f"{url}/pagerduty/webhooks", data=body, headers=headers) as answer:
            await answer.read()
            return answer.status, time.perf_counter() - started
    except (aiohttp.ClientError, TimeoutError):
        return 0, time.perf_counter() - started


async def launch(name: str, env: dict[str, str], log_dir: Path, ready_cap: float) -> Server:
    """Start `python -m app`; `ready_seconds` is how long /readyz took to answer 200, or -1
    if it had not within `ready_cap` (the process is left running: the caller stops it)."""
    port = free_port()
    env = {**env, "PORT": str(port), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    log = log_dir / f"{name}.log"
    with log.open("ab") as sink:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app", env=env, cwd=REPO, stdout=sink, stderr=sink
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log, started, ready_seconds=-1)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1.0)) as http:
        while time.perf_counter() - started < ready_cap and process.returncode is None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{server.url}/readyz") as response:
                    if response.status == 200:
                        server.ready_seconds = time.perf_counter() - started
                        return server
            await asyncio.sleep(0.01)
    return server


async def kill(server: Server) -> None:
    """SIGKILL: no shutdown, no cleanup."""
    if server.process.returncode is None:
        server.process.send_signal(signal.SIGKILL)
        await server.process.wait()
