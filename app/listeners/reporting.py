"""The one place a request's outcome reaches Slack: a `Reply` delivered the way its
request came in, or a failure turned into a sentence for the person alone.

Listeners ack first and then work inside `Reporter.reporting` (most through `answer`, which
runs one intake call and delivers its Reply). (Bolt's own `app.error`
hook cannot be used for work done after `ack()`: when a listener fails within Bolt's
10 ms ack poll, Bolt replaces the ack with nothing and Slack sees a 404.) The same
wrapper registers the work as in flight, so a shutdown can let it finish (`drain`).
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.blocks.modals import notice_modal
from app.errors import SLACK_FAILURES, BotError, StoppedByShutdown, slack_error_reason
from app.incidents.outcomes import Reply
from app.mrkdwn import escape
from app.pagerduty.client import WRITES_SENT, WritesSent
from app.store import StoreUnavailable

logger = logging.getLogger(__name__)

STOPPED = (
    "incident-bot was restarting and stopped before it finished this. Check the incident "
    "in PagerDuty before trying again."
)
STOPPED_BEFORE_PAGERDUTY = (
    "incident-bot was restarting and stopped this before sending anything to PagerDuty, "
    "so nothing changed there. Try again in a minute."
)
SLACK_REFUSED = (
    "Slack did not accept my answer ({reason}). What you asked for may have been done: "
    "check the incident in PagerDuty before trying again."
)
STORE_DOWN = (
    "incident-bot cannot reach its database just now, so it did nothing. Try again in a "
    "minute; if this goes on, tell whoever runs incident-bot (its log says why)."
)
STORE_LOST = (
    "incident-bot lost its database partway through this, after it had written to "
    "PagerDuty. Check the incident in PagerDuty before trying again."
)
SOMETHING_BROKE = (
    "Something went wrong inside incident-bot, so it stopped there. The error is in its "
    "log; check the incident in PagerDuty before trying again."
)


@dataclass(frozen=True)
class Audience:
    """Where a request's answers go: its response_url (Bolt's `respond`'s) when it has one,
    else ephemerals to `user` in `channel` (in `thread_ts`'s thread), public lines there."""

    channel: str | None
    user: str | None
    response_url: str | None = None
    thread_ts: str | None = None

    @classmethod
    def of(cls, body: dict[str, Any], respond: AsyncRespond | None = None) -> "Audience":
        event = body.get("event") or {}
        channel = (
            body.get("channel_id") or (body.get("channel") or {}).get("id") or event.get("channel")
        )
        user = body.get("user_id") or (body.get("user") or {}).get("id") or event.get("user")
        response_url = respond.response_url if respond is not None else None
        return cls(channel, user, response_url or None, event.get("thread_ts"))


class Reporter:
    def __init__(self, slack: AsyncWebClient) -> None:
        self._slack = slack
        # Bolt runs each listener after ack() in a task of its own; these are working.
        self._in_flight: set[asyncio.Task[Any]] = set()

    @asynccontextmanager
    async def reporting(self, audience: Audience) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        writes = WritesSent()
        counting = WRITES_SENT.set(writes)
        try:
            yield
        except Exception as error:  # the one handler: BotErrors are told, the rest logged too
            await self._tell_about(error, audience, wrote=writes.count > 0)
        except asyncio.CancelledError:  # shutdown outlasted its grace period (see drain)
            stopped = STOPPED if writes.count else STOPPED_BEFORE_PAGERDUTY
            await self._tell_about(StoppedByShutdown(stopped), audience, wrote=writes.count > 0)
            raise
        finally:
            WRITES_SENT.reset(counting)
            if task is not None:
                self._in_flight.discard(task)

    async def answer(
        self,
        audience: Audience,
        reply: Callable[[], Awaitable[Reply]],
        *,
        public_ts: str | None = None,
    ) -> None:
        """A listener's usual body: `reply()` (an intake call, made inside `reporting` so
        that reading the request fails as politely as acting on it), then its delivery."""
        async with self.reporting(audience):
            await self.deliver(await reply(), audience, public_ts=public_ts)

    @asynccontextmanager
    async def refusals_in_modal(self, view_id: str, title: str) -> AsyncIterator[None]:
        """Inside a modal the person is looking at (opened first: a trigger_id lasts 3 s),
        a refusal replaces its content instead of arriving beside it."""
        try:
            yield
        except BotError as refusal:
            await self._slack.views_update(
                view_id=view_id, view=notice_modal(title, refusal.message)
            )

    async def turn_away(self, body: dict[str, Any], text: str) -> dict[str, Any] | None:
        """Tell the sender of a request the bot will not work on (`text` says why): the
        HTTP answer for Slack, or None where there is no one to tell (an event)."""
        if body.get("command"):
            return {"response_type": "ephemeral", "text": text}
        if body.get("type") == "view_submission":
            # Under the form's first field, so that what the person typed stays there.
            blocks = (body.get("view") or {}).get("blocks") or []
            fields = [
                b["block_id"] for b in blocks if b.get("type") == "input" and b.get("block_id")
            ]
            if fields:
                return {"response_action": "errors", "errors": {fields[0]: text}}
            return {"response_action": "update", "view": notice_modal("Not done", text)}
        response_url = body.get("response_url")
        if not isinstance(response_url, str) or not response_url:
            return None
        try:
            await self._respond(
                response_url, text=text, response_type="ephemeral", replace_original=False
            )
        except SLACK_FAILURES as error:
            logger.error("could not tell the person: %s", slack_error_reason(error))
        return {}

    async def deliver(self, reply: Reply, audience: Audience, *, public_ts: str | None) -> None:
        """Public lines to the channel (in `public_ts`'s thread, if given), private ones to
        the person."""
        if reply.public:
            text = "\n".join(reply.public)
            if audience.response_url:
                await self._respond(audience.response_url, text=text, response_type="in_channel")
            elif audience.channel:
                await self._slack.chat_postMessage(
                    channel=audience.channel, thread_ts=public_ts, text=text
                )
        if reply.private or reply.private_blocks:
            await self._tell(audience, "\n".join(reply.private), reply.private_blocks or None)

    async def drain(self, grace_seconds: float) -> int:
        """Wait up to `grace_seconds` for the actions in flight (each tells its person how
        it went); returns how many were still running when the grace period ended."""
        pending = {task for task in self._in_flight if not task.done()}
        if not pending:
            return 0
        logger.info("waiting for %d action(s) in flight", len(pending))
        _, still_running = await asyncio.wait(pending, timeout=grace_seconds)
        if still_running:
            logger.warning("%d action(s) did not finish before shutdown", len(still_running))
            for task in still_running:
                task.cancel()  # each tells its person it was stopped (reporting)
            await asyncio.wait(still_running, timeout=5)
        return len(still_running)

    async def _tell_about(self, error: Exception, audience: Audience, *, wrote: bool) -> None:
        """`wrote`: the request had sent a write to PagerDuty when it failed."""
        if isinstance(error, BotError):
            logger.info("refused: %s", type(error).__name__)
            message = error.message
        elif isinstance(error, StoreUnavailable):
            logger.error("the store failed during an action: %s", error)
            message = STORE_LOST if wrote else STORE_DOWN
        elif isinstance(error, SLACK_FAILURES):
            # Slack refused a reply, a modal or a card; what was asked may well be done.
            reason = slack_error_reason(error)
            logger.warning("a Slack call failed: %s", reason)
            message = SLACK_REFUSED.format(reason=escape(reason))
        else:
            logger.error("listener failed", exc_info=error)
            message = SOMETHING_BROKE
        try:
            await self._tell(audience, message)
        except SLACK_FAILURES as slack_error:
            logger.error(
                "could not tell the person what went wrong: %s", type(slack_error).__name__
            )

    async def _tell(
        self, audience: Audience, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        if audience.response_url:
            await self._respond(
                audience.response_url,
                text=text,
                blocks=blocks,
                response_type="ephemeral",
                replace_original=False,
            )
        elif audience.channel and audience.user:
            await self._slack.chat_postEphemeral(
                channel=audience.channel,
                user=audience.user,
                text=text,
                blocks=blocks,
                thread_ts=audience.thread_ts,
            )

    async def _respond(self, response_url: str, **message: Any) -> None:
        """Through the Web API client's kept-alive connections: Bolt's `respond` opens a new
        connection (a TLS handshake) for every answer."""
        webhook = AsyncWebhookClient(response_url, session=self._slack.session)
        await webhook.send_dict({k: v for k, v in message.items() if v is not None})
