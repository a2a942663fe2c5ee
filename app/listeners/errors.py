"""The one place a failed action becomes a Slack message, for the person alone.

Listeners ack first and then work inside `reporting_errors`. (Bolt's own `app.error`
hook cannot be used for work done after `ack()`: when a listener fails within Bolt's
10 ms ack poll, Bolt replaces the ack with nothing and Slack sees a 404.) The same
wrapper registers the work as in flight, so a shutdown can let it finish (`drain`).
"""

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from app.cards import slack_error_reason
from app.errors import SLACK_FAILURES, BotError, StoppedByShutdown
from app.mrkdwn import escape

logger = logging.getLogger(__name__)

STOPPED = (
    "incident-bot was restarting and stopped before it finished this. Check the incident "
    "in PagerDuty before trying again."
)


SLACK_REFUSED = (
    "Slack did not accept my answer ({reason}). What you asked for may have been done: "
    "check the incident in PagerDuty before trying again."
)
SOMETHING_BROKE = (
    "Something went wrong inside incident-bot, so it stopped there. The error is in its "
    "log; check the incident in PagerDuty before trying again."
)


# Bolt runs each listener after ack() in a task of its own; these are the ones working.
_IN_FLIGHT: "weakref.WeakSet[asyncio.Task[Any]]" = weakref.WeakSet()


@asynccontextmanager
async def reporting_errors(
    body: dict[str, Any], respond: AsyncRespond | None, client: AsyncWebClient
) -> AsyncIterator[None]:
    task = asyncio.current_task()
    if task is not None:
        _IN_FLIGHT.add(task)
    try:
        yield
    except Exception as error:  # the one handler: BotErrors are told, the rest logged too
        await tell_about_error(error, body, respond, client)
    except asyncio.CancelledError:  # shutdown outlasted its grace period (see drain)
        await tell_about_error(StoppedByShutdown(STOPPED), body, respond, client)
        raise
    finally:
        if task is not None:
            _IN_FLIGHT.discard(task)


async def drain(grace_seconds: float) -> int:
    """Wait up to `grace_seconds` for the actions in flight (each tells its person how it
    went); returns how many were still running when the grace period ended."""
    pending = {task for task in _IN_FLIGHT if not task.done()}
    if not pending:
        return 0
    logger.info("waiting for %d action(s) in flight", len(pending))
    _, still_running = await asyncio.wait(pending, timeout=grace_seconds)
    if still_running:
        logger.warning("%d action(s) did not finish before shutdown", len(still_running))
        for task in still_running:
            task.cancel()  # each tells its person it was stopped (reporting_errors)
        await asyncio.wait(still_running, timeout=5)
    return len(still_running)


async def tell_about_error(
    error: Exception,
    body: dict[str, Any],
    respond: AsyncRespond | None,
    client: AsyncWebClient,
) -> None:
    if isinstance(error, BotError):
        logger.info("refused: %s", type(error).__name__)
        message = error.message
    elif isinstance(error, SLACK_FAILURES):
        # Slack refused a reply, a modal or a card; what was asked may well be done.
        reason = slack_error_reason(error)
        logger.warning("a Slack call failed: %s", reason)
        message = SLACK_REFUSED.format(reason=escape(reason))
    else:
        logger.error("listener failed", exc_info=error)
        message = SOMETHING_BROKE
    try:
        if respond is not None and respond.response_url:
            await respond(text=message, response_type="ephemeral", replace_original=False)
            return
        channel, user = _channel_and_user(body)
        if channel and user:
            thread_ts = (body.get("event") or {}).get("thread_ts")
            await client.chat_postEphemeral(
                channel=channel, user=user, text=message, thread_ts=thread_ts
            )
    except SLACK_FAILURES as slack_error:
        logger.error("could not tell the person what went wrong: %s", type(slack_error).__name__)


def _channel_and_user(body: dict[str, Any]) -> tuple[str | None, str | None]:
    event = body.get("event") or {}
    channel = (
        body.get("channel_id") or (body.get("channel") or {}).get("id") or event.get("channel")
    )
    user = body.get("user_id") or (body.get("user") or {}).get("id") or event.get("user")
    return channel, user
