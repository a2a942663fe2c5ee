"""`python -m bench.floor`: the cheapest Bolt app on the bot's stack (Starlette +
AsyncSlackRequestHandler + uvicorn), whose `/incident` listener only acks. Its latency is
what Bolt itself costs, so the bot is judged against it rather than against zero."""

import argparse
import logging
import sys

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

FLOOR_BOT_TOKEN = "xoxb-bench-floor-token"  # noqa: S105 - only ever sent to the stand-in


def build_floor(signing_secret: str, slack_api_url: str) -> Starlette:
    """The same wiring as app/web.py, minus everything the bot adds."""
    bolt = AsyncApp(
        client=AsyncWebClient(token=FLOOR_BOT_TOKEN, base_url=slack_api_url),
        signing_secret=signing_secret,
        logger=logging.getLogger("floor.slack"),
    )

    @bolt.command("/incident")
    async def incident(ack: AsyncAck) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def slack_events(request: Request) -> Response:
        return await handler.handle(request)

    async def readyz(_: Request) -> Response:
        return PlainTextResponse("ready")

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--signing-secret", required=True)
    parser.add_argument("--slack-api-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    # Same logging posture as the bot under LOG_LEVEL=WARNING.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    app = build_floor(args.signing_secret, args.slack_api_url)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
