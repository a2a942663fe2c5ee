"""The Bolt app: dependencies go into every request's context, and one error handler turns
`BotError`s into the sentence the person reads."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from app import listeners
from app.errors import BotError
from app.incidents import IncidentActions

logger = logging.getLogger(__name__)

SOMETHING_BROKE = (
    "Something went wrong inside incident-bot, so it stopped there. The error is in its "
    "log; check the incident in PagerDuty before trying again."
)


def build_slack_client(token: str, api_url: str) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=api_url)
    # Slack's 429s carry Retry-After; honour it a couple of times before giving up.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_app(
    *, client: AsyncWebClient, signing_secret: str, incidents: IncidentActions
) -> AsyncApp:
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        logger=logging.getLogger("app.slack"),
    )

    @app.middleware
    async def inject_dependencies(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        context["incidents"] = incidents
        await next()

    app.error(handle_error)
    listeners.register(app)
    return app


async def handle_error(
    error: Exception,
    body: dict[str, Any],
    respond: AsyncRespond | None,
    client: AsyncWebClient,
) -> None:
    """The one place a failed request becomes a Slack message, for the person alone."""
    if isinstance(error, BotError):
        logger.info("refused: %s", type(error).__name__)
        message = error.message
    else:
        logger.error("listener failed", exc_info=error)
        message = SOMETHING_BROKE
    try:
        if respond is not None and respond.response_url:
            await respond(text=message, response_type="ephemeral", replace_original=False)
            return
        channel, user = _channel_and_user(body)
        if channel and user:
            await client.chat_postEphemeral(channel=channel, user=user, text=message)
    except (SlackApiError, OSError) as slack_error:
        logger.error("could not tell the person what went wrong: %s", type(slack_error).__name__)


def _channel_and_user(body: dict[str, Any]) -> tuple[str | None, str | None]:
    event = body.get("event") or {}
    channel = (
        body.get("channel_id") or (body.get("channel") or {}).get("id") or event.get("channel")
    )
    user = body.get("user_id") or (body.get("user") or {}).get("id") or event.get("user")
    return channel, user
