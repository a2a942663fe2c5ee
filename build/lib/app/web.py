"""The ASGI app: Slack, health and metrics on one port. `create_app` is the only place
the parts are wired together; nothing is created at import time."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.bolt import build_app, build_slack_client
from app.cards import Cards
from app.identity import IdentityResolver, load_user_map
from app.incidents import IncidentActions
from app.logs import RequestLog
from app.pagerduty.client import PagerDutyClient
from app.settings import Settings

logger = logging.getLogger(__name__)

# Slack's largest requests (a modal submission with blocks) are tens of kilobytes.
MAX_SLACK_BODY_BYTES = 1024 * 1024


def create_app(
    settings: Settings,
    *,
    pagerduty: PagerDutyClient | None = None,
    slack_client: AsyncWebClient | None = None,
) -> Starlette:
    pagerduty = pagerduty or PagerDutyClient(
        str(settings.pagerduty_api_url), settings.pagerduty_api_token
    )
    identity = IdentityResolver(
        pagerduty, load_user_map(settings.user_map_file), settings.identity_cache_seconds
    )
    slack_client = slack_client or build_slack_client(
        settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url)
    )
    bolt = build_app(
        client=slack_client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        incidents=IncidentActions(pagerduty, identity, Cards(slack_client)),
    )
    slack_handler = AsyncSlackRequestHandler(bolt)
    ready = False

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_SLACK_BODY_BYTES:
            return PlainTextResponse("request body too large", status_code=413)
        return await slack_handler.handle(request)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        return PlainTextResponse(
            "ready" if ready else "starting", status_code=200 if ready else 503
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        ready = True
        try:
            yield
        finally:
            ready = False
            await pagerduty.aclose()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequestLog)],
    )
