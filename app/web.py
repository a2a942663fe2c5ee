"""The ASGI app: Slack, PagerDuty webhooks, health and metrics on one port. `create_app` is
the only place the parts are wired together; nothing is created at import time."""

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.bolt import build_app, build_slack_client
from app.card_sync import CardSync
from app.cards import Cards
from app.channel_routes import load_channel_routes
from app.identity import IdentityResolver, load_user_map
from app.incidents import IncidentActions
from app.listeners.errors import drain
from app.logs import RequestLog
from app.metrics import DEDUPE_HITS, WEBHOOK_EVENTS, scrape_allowed
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.webhooks import WebhookRejected, parse_event, signature_is_valid
from app.policy import GroupDirectory, load_policy
from app.settings import Settings
from app.signatures import signed_by_slack
from app.store import Store, StoreUnavailable

logger = logging.getLogger(__name__)

# Slack's largest requests (a modal submission with blocks) are tens of kilobytes, and so
# are PagerDuty's webhook events; anything far larger is not from them.
MAX_SLACK_BODY_BYTES = 1024 * 1024
MAX_WEBHOOK_BODY_BYTES = 512 * 1024


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The raw body, or None once it exceeds `limit` (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        # isdigit() alone accepts "²" and 5,000 digits, on which int() raises.
        well_formed = declared.isascii() and declared.isdigit() and len(declared) <= 12
        if not well_formed or int(declared) > limit:
            return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _signed_by_slack(
    verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str
) -> bool:
    """`v0=` HMAC of `v0:{timestamp}:{body}`, at most 5 minutes old (app.signatures)."""
    return signed_by_slack(verifier.signing_secret, body, timestamp, signature)


def create_app(
    settings: Settings,
    *,
    pagerduty: PagerDutyClient | None = None,
    slack_client: AsyncWebClient | None = None,
) -> Starlette:
    pagerduty = pagerduty or PagerDutyClient(
        str(settings.pagerduty_api_url), settings.pagerduty_api_token
    )
    store = Store(settings.database_url, settings.retention)
    slack_client = slack_client or build_slack_client(
        settings.slack_bot_token.get_secret_value(), str(settings.slack_api_url)
    )
    identity = IdentityResolver(
        pagerduty, load_user_map(settings.user_map_file), settings.identity_cache_seconds
    )
    cards = Cards(slack_client, store)
    incidents = IncidentActions(
        pagerduty,
        identity,
        cards,
        store,
        load_policy(settings.policy_file),
        GroupDirectory(slack_client),
    )
    sync = CardSync(
        cards=cards,
        store=store,
        routes=load_channel_routes(settings.channel_routes_file),
        incidents=incidents,
        holder=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        lease=timedelta(seconds=settings.webhook_lease_seconds),
    )
    bolt = build_app(
        client=slack_client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        incidents=incidents,
        store=store,
    )
    # With an app-level token Slack's traffic arrives over Socket Mode; /slack/events is
    # then served only if a signing secret is set too (never unverified).
    socket_mode = (
        AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        if settings.slack_app_token
        else None
    )
    serve_slack_http = bool(settings.slack_signing_secret.get_secret_value())
    slack_verifier = (
        SignatureVerifier(settings.slack_signing_secret.get_secret_value())
        if serve_slack_http
        else None
    )
    webhook_secrets = [s.get_secret_value() for s in settings.webhook_secrets]
    ready = False

    async def slack_events(request: Request) -> Response:
        """Checked here before Bolt sees anything: Bolt parses the body before verifying
        it, so a forged body could make it fail, or answer, on an attacker's behalf."""
        try:
            body = await _body_within(request, MAX_SLACK_BODY_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        if slack_verifier is None or not _signed_by_slack(
            slack_verifier,
            body,
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        ):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = to_async_bolt_request(request, body)
        except ValueError:  # JSON or UTF-8 that does not parse, however well signed
            return PlainTextResponse("malformed request body", status_code=400)
        return to_starlette_response(await bolt.async_dispatch(bolt_request))

    async def pagerduty_webhooks(request: Request) -> Response:
        """Verify, record, answer; the cards change after the answer (PagerDuty allows
        5 s, and retries 5xx for 48 h, so a store outage answers 503)."""
        try:
            body = await _body_within(request, MAX_WEBHOOK_BODY_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            WEBHOOK_EVENTS.labels("too_large").inc()
            return PlainTextResponse("request body too large", status_code=413)
        if not signature_is_valid(
            body, request.headers.get("x-pagerduty-signature"), webhook_secrets
        ):
            WEBHOOK_EVENTS.labels("bad_signature").inc()
            logger.warning(
                "webhook refused: signature missing or wrong"
                + ("" if webhook_secrets else " (PAGERDUTY_WEBHOOK_SECRETS is not set)")
            )
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            event = parse_event(body)
        except WebhookRejected as rejected:
            WEBHOOK_EVENTS.labels("malformed").inc()
            return PlainTextResponse(rejected.reason, status_code=rejected.status)
        try:
            accepted = await store.accept_event(event.id, body.decode())
        except StoreUnavailable:
            WEBHOOK_EVENTS.labels("store_unavailable").inc()
            return PlainTextResponse("store unavailable; retry later", status_code=503)
        if not accepted:
            DEDUPE_HITS.labels("webhook").inc()
            return JSONResponse({"status": "duplicate"})
        WEBHOOK_EVENTS.labels("accepted").inc()
        sync.wake()
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        if ready and await store.ping():
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready", status_code=503)

    async def metrics(request: Request) -> Response:
        # Off without METRICS_TOKEN, and only for its bearer: it is reachable wherever / is.
        if settings.metrics_token is None:
            return PlainTextResponse("not found (set METRICS_TOKEN to serve metrics)", 404)
        if not scrape_allowed(request.headers.get("authorization"), settings.metrics_token):
            return PlainTextResponse(
                "metrics need the METRICS_TOKEN bearer token", 401, {"www-authenticate": "Bearer"}
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal ready
        await store.open()
        await sync.catch_up(reconcile_seconds=settings.reconcile_interval_seconds)
        if socket_mode is not None:
            await socket_mode.connect_async()
        worker = asyncio.create_task(
            sync.run(
                poll_seconds=settings.webhook_retry_seconds,
                reconcile_seconds=settings.reconcile_interval_seconds,
            ),
            name="card-sync",
        )
        ready = True
        try:
            yield
        finally:
            # Requests have stopped (uvicorn closed the listener); let the actions they
            # started finish and tell their people, then stop the rest.
            ready = False
            if socket_mode is not None:
                await socket_mode.close_async()
            await drain(settings.shutdown_grace_seconds)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await sync.release()
            await pagerduty.aclose()
            await store.close()

    slack_routes = [Route("/slack/events", slack_events, methods=["POST"])]
    return Starlette(
        routes=[
            *(slack_routes if serve_slack_http else []),
            Route("/pagerduty/webhooks", pagerduty_webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
        middleware=[Middleware(RequestLog)],
    )
