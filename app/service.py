"""The running bot: every part built once from the settings (`Service.build`), then started
and stopped together (`Service.running`). Nothing is created at import time."""

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from app.bolt import build_app, build_slack_client
from app.channel_routes import load_channel_routes
from app.identity import IdentityResolver, load_user_map
from app.incidents.actions import ActionTools, IncidentActions
from app.incidents.cards import IncidentCards
from app.incidents.installation import InstallationLookup
from app.incidents.intake import Intake
from app.incidents.locks import IncidentLocks
from app.incidents.outcomes import RecentActions
from app.incidents.responding import Responding
from app.incidents.sync import CardSync
from app.incidents.updates import IncidentUpdates
from app.listeners.reporting import Reporter
from app.pagerduty.client import PagerDutyClient
from app.policy import GroupDirectory, load_policy
from app.posting_queue import ChannelPostingQueue
from app.settings import Settings
from app.store import Store


@dataclass
class Service:
    settings: Settings
    store: Store
    pagerduty: PagerDutyClient
    intake: Intake
    bolt: AsyncApp
    reporter: Reporter
    sync: CardSync
    posting: ChannelPostingQueue
    ready: bool = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        pagerduty: PagerDutyClient | None = None,
        slack: AsyncWebClient | None = None,
    ) -> "Service":
        pagerduty = pagerduty or PagerDutyClient(
            str(settings.pagerduty_api_url), settings.pagerduty_api_token
        )
        slack = slack or build_slack_client(
            settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url)
        )
        store = Store(settings.database_url, settings.retention)
        identity = IdentityResolver(
            pagerduty, slack, load_user_map(settings.user_map_file), settings.identity_cache_seconds
        )
        policy = load_policy(settings.policy_file)
        recent = RecentActions(store)
        posting = ChannelPostingQueue()
        routes = load_channel_routes(settings.channel_routes_file)
        groups = GroupDirectory(slack)
        locks = IncidentLocks(pagerduty, store)
        installation = InstallationLookup(slack, settings.allowed_team_ids)
        cards = IncidentCards(slack, store, pagerduty, recent, installation)
        tools = ActionTools(pagerduty, locks, identity, policy, groups, recent)
        responding = Responding(tools, routes, cards.status_updates)
        updates = IncidentUpdates(tools)
        actions = IncidentActions(tools, extra=[updates.actions, responding.actions])
        intake = Intake(
            actions=actions,
            cards=cards,
            identity=identity,
            policy=policy,
            store=store,
            installation=installation,
            responding=responding,
            updates=updates,
        )
        reporter = Reporter(slack)
        background = pagerduty.background()
        sync = CardSync(
            cards=cards.reading_with(background),
            locks=locks.reading_with(background),
            pagerduty=background,
            recent=recent,
            posting=posting,
            store=store,
            routes=routes,
            holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            lease=timedelta(seconds=settings.webhook_lease_seconds),
        )
        bolt = build_app(
            client=slack,
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            intake=intake,
            reporter=reporter,
            store=store,
        )
        return cls(settings, store, pagerduty, intake, bolt, reporter, sync, posting)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        settings = self.settings
        await self.store.open()
        # With an app-level token Slack's traffic arrives over Socket Mode. Its handler
        # needs the running loop, so it is made here, not at build time; and only a bot
        # that uses it imports it.
        socket_mode = None
        if settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_mode = AsyncSocketModeHandler(
                self.bolt, settings.slack_app_token.get_secret_value()
            )
            await socket_mode.connect_async()
        # One pool of kept-alive connections for every Slack Web API call: without a session
        # slack_sdk opens (and over HTTPS, handshakes) a new connection for each call. It
        # needs the running loop, so it is made here.
        slack_session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.bolt.client.timeout)
        )
        self.bolt.client.session = slack_session
        # Ready as soon as the store is open: catching up (stored events, the first
        # reconcile) is the worker's first step, in the background.
        worker = asyncio.create_task(
            self.sync.run(
                poll_seconds=settings.webhook_retry_seconds,
                reconcile_seconds=settings.reconcile_interval_seconds,
            ),
            name="card-sync",
        )
        self.ready = True
        opening_pagerduty = asyncio.create_task(self.pagerduty.open(), name="pagerduty-open")
        try:
            yield
        finally:
            # Requests have stopped (uvicorn closed the listener); let the actions they
            # started finish and tell their people, then stop the rest.
            self.ready = False
            # Background work stops at once (a stored event not finished is retried by
            # the next process); people's actions get the grace period.
            worker.cancel()
            if socket_mode is not None:
                await socket_mode.close_async()
            await self.reporter.drain(settings.shutdown_grace_seconds)
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await self.posting.close()
            await self.sync.release()
            await slack_session.close()
            await opening_pagerduty
            await self.pagerduty.aclose()
            await self.store.close()
