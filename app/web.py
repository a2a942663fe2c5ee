"""The ASGI app: Slack, PagerDuty webhooks, health and metrics on one port. The parts are
wired in `app.service`; this module holds the routes only."""

import json
import logging
from urllib.parse import parse_qsl

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.logs import RequestLog
from app.metrics import DEDUPE_HITS, WEBHOOK_EVENTS, scrape_allowed
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.webhooks import WebhookRejected, parse_event, signature_is_valid
from app.service import Service
from app.settings import Settings
from app.signatures import signed_by_slack
from app.store import StoreUnavailable

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


def _unambiguous_body(body: bytes, content_type: str) -> str:
    """The request as JSON Bolt cannot misread. Bolt reads any form body whose bytes contain
    "payload" anywhere (a slash command's text, a channel or user name) as an interactivity
    payload; with no `payload` field it then sees an empty body, matches no listener and
    answers 404. We decide by the parsed fields instead: a form with a `payload` field is
    interactivity (its JSON), any other form is its fields; JSON bodies pass as sent."""
    text = body.decode("utf-8")
    if content_type.split(";")[0].strip() == "application/json" or text.startswith("{"):
        document = text
    else:
        fields = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in fields:
            return json.dumps(fields)
        document = fields["payload"]
    parsed = json.loads(document)
    if not isinstance(parsed, dict):
        raise ValueError("not a JSON object")
    return json.dumps(parsed)


def create_app(
    settings: Settings,
    *,
    pagerduty: PagerDutyClient | None = None,
    slack_client: AsyncWebClient | None = None,
) -> Starlette:
    service = Service.build(settings, pagerduty=pagerduty, slack=slack_client)
    endpoints = Endpoints(service)
    # With Socket Mode, /slack/events is served only if a signing secret is set too (never
    # unverified).
    slack_routes = [Route("/slack/events", endpoints.slack_events, methods=["POST"])]
    return Starlette(
        routes=[
            *(slack_routes if endpoints.signing_secret else []),
            Route("/pagerduty/webhooks", endpoints.pagerduty_webhooks, methods=["POST"]),
            Route("/healthz", endpoints.healthz, methods=["GET"]),
            Route("/readyz", endpoints.readyz, methods=["GET"]),
            Route("/metrics", endpoints.metrics, methods=["GET"]),
        ],
        lifespan=lambda _: service.running(),
        middleware=[Middleware(RequestLog)],
    )


class Endpoints:
    def __init__(self, service: Service) -> None:
        self._service = service
        self.signing_secret = service.settings.slack_signing_secret.get_secret_value()
        self._webhook_secrets = [s.get_secret_value() for s in service.settings.webhook_secrets]

    async def slack_events(self, request: Request) -> Response:
        """Checked here before Bolt sees anything: Bolt parses the body before verifying
        it, so a forged body could make it fail, or answer, on an attacker's behalf."""
        try:
            body = await _body_within(request, MAX_SLACK_BODY_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return PlainTextResponse("request body too large", status_code=413)
        if not self.signing_secret or not signed_by_slack(
            self.signing_secret,
            body,
            request.headers.get("x-slack-request-timestamp", ""),
            request.headers.get("x-slack-signature", ""),
        ):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=_unambiguous_body(body, request.headers.get("content-type", "")),
                query=str(request.query_params),
                headers=dict(request.headers),
            )
        except ValueError:  # JSON or UTF-8 that does not parse, however well signed
            return PlainTextResponse("malformed request body", status_code=400)
        return to_starlette_response(await self._service.bolt.async_dispatch(bolt_request))

    async def pagerduty_webhooks(self, request: Request) -> Response:
        """Verify, record, answer; the cards change after the answer (PagerDuty allows
        5 s, and retries 5xx for 48 h, so a store outage answers 503)."""
        try:
            body = await _body_within(request, MAX_WEBHOOK_BODY_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            WEBHOOK_EVENTS.labels("too_large").inc()
            return PlainTextResponse("request body too large", status_code=413)
        secrets = self._webhook_secrets
        if not signature_is_valid(body, request.headers.get("x-pagerduty-signature"), secrets):
            WEBHOOK_EVENTS.labels("bad_signature").inc()
            logger.warning(
                "webhook refused: signature missing or wrong"
                + ("" if secrets else " (PAGERDUTY_WEBHOOK_SECRETS is not set)")
            )
            return PlainTextResponse("invalid signature", status_code=401)
        try:
            event = parse_event(body)
        except WebhookRejected as rejected:
            WEBHOOK_EVENTS.labels("malformed").inc()
            logger.warning("webhook refused: %s", rejected.reason)
            return PlainTextResponse(rejected.reason, status_code=rejected.status)
        try:
            accepted = await self._service.store.accept_event(event.id, body.decode())
        except StoreUnavailable:
            WEBHOOK_EVENTS.labels("store_unavailable").inc()
            return PlainTextResponse("store unavailable; retry later", status_code=503)
        if not accepted:
            DEDUPE_HITS.labels("webhook").inc()
            return JSONResponse({"status": "duplicate"})
        WEBHOOK_EVENTS.labels("accepted").inc()
        self._service.sync.wake()
        return JSONResponse({"status": "accepted"}, status_code=202)

    async def healthz(self, _: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(self, _: Request) -> Response:
        if self._service.ready and await self._service.store.ping():
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready", status_code=503)

    async def metrics(self, request: Request) -> Response:
        # With METRICS_TOKEN set, only its bearer may scrape: /metrics is reachable wherever /
        # is. Unset, it is served as DESIGN's contract says (the shipped proxy hides it).
        token = self._service.settings.metrics_token
        if token is not None and not scrape_allowed(request.headers.get("authorization"), token):
            return PlainTextResponse(
                "metrics need the METRICS_TOKEN bearer token", 401, {"www-authenticate": "Bearer"}
            )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
