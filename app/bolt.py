"""The Bolt app: dependencies go into every request's context, and one error handler turns
`BotError`s into the sentence the person reads."""

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from app import listeners
from app.incidents.intake import Intake
from app.listeners.reporting import STORE_DOWN, Reporter
from app.metrics import DEDUPE_HITS, SLACK_CALLS
from app.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)


class MeteredWebClient(AsyncWebClient):
    """Every Web API method goes through `api_call`: one place to time and count them."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        started = time.perf_counter()
        result = "error"
        try:
            response = await super().api_call(api_method, **kwargs)
            result = "ok"
            return response
        except SlackApiError as error:
            result = str(error.response.get("error", "error"))
            raise
        finally:
            seconds = time.perf_counter() - started
            SLACK_CALLS.labels(api_method, result).observe(seconds)
            logger.info(
                "slack %s: %s", api_method, result, extra={"duration_ms": round(seconds * 1000, 1)}
            )


def build_slack_client(token: str, api_url: str) -> AsyncWebClient:
    client = MeteredWebClient(token=token, base_url=api_url)
    # Slack's 429s carry Retry-After; honour it a couple of times before giving up.
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    return client


def build_app(
    *,
    client: AsyncWebClient,
    signing_secret: str,
    intake: Intake,
    reporter: Reporter,
    store: Store,
) -> AsyncApp:
    app = AsyncApp(
        # Named, or Bolt names it from inspect.stack(): ~80 ms of every start.
        name="incident-bot",
        client=client,
        signing_secret=signing_secret,
        # `app.web` verifies the signature over the bytes Slack sent, then hands Bolt the
        # body re-encoded as JSON (Bolt misreads some form bodies); Socket Mode is unsigned.
        request_verification_enabled=False,
        logger=logging.getLogger("app.slack"),
    )

    @app.middleware
    async def inject_dependencies(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> None:
        context["intake"] = intake
        context["reporter"] = reporter
        # Bolt builds a plain client per request (for per-request tokens, which we never
        # swap); every Slack call goes through our one metered client instead.
        context["client"] = client
        await next()

    @app.middleware
    async def drop_repeated_events(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """Slack redelivers an event it thinks we missed (same `event_id`, with
        X-Slack-Retry-Num); acting on it again would act twice."""
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await store.claim(f"slack-event:{event_id}"):
            DEDUPE_HITS.labels("slack_event").inc()
            return BoltResponse(status=200, body="")
        await next()
        return None

    @app.middleware
    async def drop_replayed_requests(
        body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """A signed command or interaction captured and posted again within Slack's
        five-minute window passes the signature check; each one Slack sends has a
        `trigger_id` (an action also its `action_ts`) of its own, so act on it once."""
        key = replay_key(body)
        try:
            first = key is None or await store.claim(key)
        except StoreUnavailable:
            # Slack never retries a command or an interaction: say what happened, rather
            # than a 500 that shows "dispatch_failed" or a warning sign. Events get the 500.
            answer = await reporter.turn_away(body, STORE_DOWN)
            if answer is None:
                raise  # handle_error
            logger.error("the store is unavailable: a request was turned away")
            return BoltResponse(
                status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
            )
        if not first:
            DEDUPE_HITS.labels("slack_replay").inc()
            return BoltResponse(status=200, body="")
        await next()
        return None

    app.error(handle_error)
    listeners.register(app)
    return app


def replay_key(body: dict[str, Any]) -> str | None:
    """The claim a command or interaction makes; None for what has no trigger (events are
    deduped by their event_id)."""
    trigger_id = body.get("trigger_id")
    if not isinstance(trigger_id, str) or not trigger_id:
        return None
    actions = body.get("actions") or [{}]
    action_ts = actions[0].get("action_ts", "") if isinstance(actions[0], dict) else ""
    return f"slack-trigger:{trigger_id}:{action_ts}"


async def handle_error(error: Exception) -> None:
    """Failures before a listener took over (Bolt itself, our middleware, e.g. the store
    down while deduping an event): Bolt answers 500, so Slack retries. Nothing is posted:
    such a body is not known to be worth answering."""
    logger.error("request failed before any listener ran", exc_info=error)
