"""Start the playground: simulators on loopback ports, the real bot configured to call
them (through the same settings as production), and the page, on HOST:PORT."""

import asyncio
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from app.demo.pagerduty import PD_TEST_TOKEN, PagerDutyStandIn, seed_default
from app.demo.playground import CHANNEL, Playground
from app.demo.server import serve_on_loopback
from app.demo.slack import SlackStandIn, seed_default_slack
from app.logs import configure_logging
from app.settings import NEXT_STEP, ConfigError, Settings, load_settings
from app.web import create_app

PAGE = Path(__file__).with_name("page.html")
DEMO_BOT_TOKEN = "xoxb-playground-bot-token"  # noqa: S105 - accepted by the simulator only


def demo_settings(slack_url: str, pagerduty_url: str, workdir: Path) -> Settings:
    """Production's settings, every outside party replaced by a simulator. HOST, PORT and
    the log options still come from the environment; HOST defaults to loopback, since the
    playground lets whoever reaches it act."""
    routes = workdir / "routes.yml"
    routes.write_text(f"default: {CHANNEL['id']}\n")
    return load_settings(
        _env_file=None,
        slack_bot_token=DEMO_BOT_TOKEN,
        slack_signing_secret=secrets.token_hex(16),
        slack_app_token=None,
        slack_api_url=f"{slack_url}/api/",
        pagerduty_api_token=PD_TEST_TOKEN,
        pagerduty_api_url=pagerduty_url,
        pagerduty_webhook_secrets=secrets.token_hex(16),
        database_url=f"sqlite:///{workdir}/playground.db",
        channel_routes_file=routes,
        user_map_file=None,
        policy_file=None,
        host=os.environ.get("HOST", "127.0.0.1"),
        log_format=os.environ.get("LOG_FORMAT", "console"),
        reconcile_interval_seconds=3600,
        webhook_retry_seconds=2,
    )


def _local_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{settings.port}"


async def serve() -> int:
    slack = SlackStandIn(bot_token=DEMO_BOT_TOKEN)
    seed_default_slack(slack)
    pagerduty = PagerDutyStandIn()
    seed_default(pagerduty)
    with tempfile.TemporaryDirectory(prefix="incident-bot-playground-") as workdir:
        async with (
            serve_on_loopback(slack.app) as slack_url,
            serve_on_loopback(pagerduty.app) as pagerduty_url,
        ):
            try:
                settings = demo_settings(slack_url, pagerduty_url, Path(workdir))
            except ConfigError as error:
                print(f"the playground cannot start: {error}\n{NEXT_STEP}", file=sys.stderr)
                return 2
            configure_logging(settings.log_level, settings.log_format, secrets=[])
            bot = create_app(settings)
            playground = Playground(
                slack,
                pagerduty,
                bot_url=_local_url(settings),
                slack_url=slack_url,
                pagerduty_url=pagerduty_url,
                signing_secret=settings.slack_signing_secret.get_secret_value(),
                webhook_secret=settings.webhook_secrets[0].get_secret_value(),
            )

            @asynccontextmanager
            async def lifespan(_: Starlette) -> AsyncIterator[None]:
                async with bot.router.lifespan_context(bot):
                    print(f"incident-bot playground: open {_local_url(settings)}/", flush=True)
                    yield
                await playground.aclose()

            async def page(_: Request) -> Response:
                return HTMLResponse(PAGE.read_text(encoding="utf-8"))

            app = Starlette(
                routes=[
                    Route("/", page, methods=["GET"]),
                    Route("/demo/state", playground.page_state, methods=["GET"]),
                    Route("/demo/slack", playground.slack_action, methods=["POST"]),
                    Route("/demo/pagerduty", playground.pagerduty_action, methods=["POST"]),
                    Mount("/", app=bot),  # every route of the bot, as in production
                ],
                lifespan=lifespan,
            )
            config = uvicorn.Config(
                app,
                host=settings.host,
                port=settings.port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=2,
            )
            await uvicorn.Server(config).serve()
    return 0


def main() -> int:
    return asyncio.run(serve())
