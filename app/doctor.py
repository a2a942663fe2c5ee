"""`python -m app doctor`: check the live configuration, one line per check.

Each line is `OK  <check>` or `FAIL <check>: <what is wrong> — <how to fix it>`, so whoever
deploys the bot learns at once what to change, not at the first 3 a.m. page. The exit
status is 0 only when every check passes (2 when the settings themselves are invalid).
Nothing printed may contain a secret: messages are built from error codes and our own
words, and every line passes through a redactor as a last line of defence.
"""

import asyncio
from collections.abc import Iterable
from typing import TextIO

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.channel_routes import load_channel_routes
from app.identity import load_user_map
from app.logs import MIN_SECRET_LENGTH, configure_logging
from app.pagerduty.client import PagerDutyClient
from app.pagerduty.errors import PagerDutyMisconfigured, PagerDutyRejected, PagerDutyUnavailable
from app.policy import load_policy
from app.settings import NEXT_STEP, ConfigError, Settings, load_settings
from app.store import Store, StoreUnavailable

REQUIRED_SCOPES: frozenset[str] = frozenset(
    {
        "commands",  # /incident and the message shortcuts
        "chat:write",  # cards, announcements, ephemeral errors
        "users:read",  # users.info; a prerequisite of users:read.email
        "users:read.email",  # the Slack profile email that maps a person to PagerDuty
        "app_mentions:read",  # "@incident-bot escalate" in a card's thread
        "channels:history",  # conversations.replies: a thread's parent card, public channels
        "groups:history",  # the same in private channels
        "usergroups:read",  # usergroups.users.list: POLICY_FILE's group rules
    }
)
"""The Slack bot scopes the bot needs, no more; manifest.yml declares exactly these."""

# auth.test answers that mean the token itself is no good, whatever the network does.
_BAD_TOKEN_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
_SLACK_CREDENTIAL_HINT = (
    "copy the Bot User OAuth Token (OAuth & Permissions) into SLACK_BOT_TOKEN; "
    "if the app was uninstalled, reinstall it from manifest.yml first"
)
WEBHOOK_PATH = "/pagerduty/webhooks"  # DESIGN section 1
_SETTINGS_FIX = "set it in the environment or .env (.env.example describes every variable)"


class _Report:
    """Prints check lines, keeps the verdict and scrubs any known secret from the text."""

    def __init__(self, out: TextIO, secrets: Iterable[str]) -> None:
        self._out = out
        # Only whole values long enough to be secrets (app.logs); emails stay: this is the
        # operator's own terminal, and the user map's problems name them.
        self._secrets = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )
        self.failed = False

    def ok(self, check: str, detail: str = "") -> None:
        self._print(f"OK  {check}" + (f" ({detail})" if detail else ""))

    def fail(self, check: str, problem: str, fix: str) -> None:
        self.failed = True
        self._print(f"FAIL {check}: {problem} — {fix}")

    def _print(self, line: str) -> None:
        for secret in self._secrets:
            line = line.replace(secret, "[redacted]")
        print(line, file=self._out, flush=True)


def load_doctor_settings(out: TextIO, **overrides: object) -> Settings | None:
    """The settings check: `load_settings` as `serve` uses it; None (after printing every
    problem) when the configuration is invalid."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as error:
        report = _Report(out, secrets=())  # problems never contain values (app.settings)
        for problem in error.problems:
            report.fail("settings", problem, _SETTINGS_FIX)
        print(NEXT_STEP, file=out)
        return None
    _Report(out, settings.secret_values).ok("settings")
    return settings


async def run_doctor(settings: Settings, *, out: TextIO) -> int:
    """Run every check against the live services; 0 when all pass, else 1."""
    report = _Report(out, settings.secret_values)
    _check_user_map(settings, report)
    _check_yaml_files(settings, report)
    await _check_slack(settings, report)
    await _check_slack_app_token(settings, report)
    await _check_pagerduty(settings, report)
    await _check_store(settings, report)
    return 1 if report.failed else 0


def _check_yaml_files(settings: Settings, report: _Report) -> None:
    try:
        routes = load_channel_routes(settings.channel_routes_file)
        report.ok(
            "channel routes",
            f"{len(routes.services)} service route(s), default "
            f"{routes.default or 'none (unrouted services get no card)'}",
        )
    except ConfigError as error:
        report.fail("channel routes", "; ".join(error.problems), "see README, Configuration")
    try:
        policy = load_policy(settings.policy_file)
        report.ok("policy", f"{len(policy.rules)} rule(s)" if settings.policy_file else "none")
    except ConfigError as error:
        report.fail("policy", "; ".join(error.problems), "see README, Configuration")


async def _check_store(settings: Settings, report: _Report) -> None:
    store = Store(settings.database_url)
    try:
        await store.open()
        report.ok("store", "open, schema migrated")
    except (StoreUnavailable, ValueError) as error:
        report.fail(
            "store",
            str(error),
            "check DATABASE_URL and that the database accepts connections from here",
        )
    finally:
        await store.close()


def _check_user_map(settings: Settings, report: _Report) -> None:
    if settings.user_map_file is None:
        report.ok("user map", "USER_MAP_FILE not set: Slack profile emails only")
        return
    try:
        users = load_user_map(settings.user_map_file)
    except ConfigError as error:
        fix = "write it as `users: {U012AB3CD: alice@example.com}` (README, Configuration)"
        report.fail("user map", "; ".join(error.problems), fix)
        return
    report.ok("user map", f"{len(users)} Slack users mapped")


async def _check_slack(settings: Settings, report: _Report) -> None:
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=str(settings.slack_api_url),
        timeout=15,
    )
    not_checked = "not checked, because auth.test failed"
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        if code in _BAD_TOKEN_ERRORS:
            report.fail("Slack bot token", f"Slack refused it ({code})", _SLACK_CREDENTIAL_HINT)
        else:
            report.fail(
                "Slack bot token",
                f"auth.test failed ({code})",
                "check SLACK_API_URL and status.slack.com, then run doctor again",
            )
        report.fail("Slack scopes", not_checked, "fix the Slack bot token first")
        return
    except (aiohttp.ClientError, TimeoutError) as error:
        report.fail(
            "Slack bot token",
            f"cannot reach Slack at {settings.slack_api_url} ({type(error).__name__})",
            "check SLACK_API_URL, DNS and any outbound proxy or firewall",
        )
        report.fail("Slack scopes", not_checked, "fix the Slack connection first")
        return
    report.ok("Slack bot token", f"{response.get('user')} in {response.get('team')}")

    header = next(
        (str(v) for k, v in (response.headers or {}).items() if k.lower() == "x-oauth-scopes"),
        None,
    )
    if header is None:
        report.fail(
            "Slack scopes",
            "Slack did not report the token's scopes (no x-oauth-scopes header)",
            "check that SLACK_BOT_TOKEN is a bot token of this app and SLACK_API_URL is Slack",
        )
        return
    granted = {scope.strip() for scope in header.split(",") if scope.strip()}
    if missing := sorted(REQUIRED_SCOPES - granted):
        report.fail(
            "Slack scopes",
            f"missing {', '.join(missing)}",
            "reinstall the app from manifest.yml (Slack asks to approve the new scopes), "
            "then copy the new bot token into SLACK_BOT_TOKEN if it changed",
        )
        return
    extra = sorted(granted - REQUIRED_SCOPES)
    report.ok("Slack scopes", f"also granted, not needed: {', '.join(extra)}" if extra else "")


async def _check_slack_app_token(settings: Settings, report: _Report) -> None:
    """Socket Mode's token: apps.connections.open is what the bot calls with it at start
    (it only hands out a WebSocket URL, which expires unused)."""
    check = "Slack app token"
    if settings.slack_app_token is None:
        report.ok(check, "SLACK_APP_TOKEN not set: HTTP mode, Slack posts to /slack/events")
        return
    client = AsyncWebClient(base_url=str(settings.slack_api_url), timeout=15)
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token.get_secret_value())
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        report.fail(
            check,
            f"Slack refused it for Socket Mode ({code})",
            "create an app-level token with connections:write (Basic Information > App-Level "
            "Tokens), turn Socket Mode on, and put the token in SLACK_APP_TOKEN",
        )
    except (aiohttp.ClientError, TimeoutError) as error:
        report.fail(
            check,
            f"cannot reach Slack at {settings.slack_api_url} ({type(error).__name__})",
            "check SLACK_API_URL, DNS and any outbound proxy or firewall",
        )
    else:
        report.ok(check, "Socket Mode")


async def _check_webhook_subscription(
    settings: Settings, client: PagerDutyClient, report: _Report
) -> None:
    """PagerDuty disables a subscription whose deliveries keep being refused (a secret that
    no longer matches after a rotation does exactly that), and says so nowhere else."""
    check = "PagerDuty webhook subscription"
    subscriptions = await client.list_webhook_subscriptions()
    ours = [s for s in subscriptions if s.delivery_method.url.rstrip("/").endswith(WEBHOOK_PATH)]
    if not ours:
        report.fail(
            check,
            f"no subscription delivers to …{WEBHOOK_PATH}, so cards only change at the "
            "periodic reconcile",
            f"add a Generic Webhook (v3) to https://<this bot>{WEBHOOK_PATH} (Integrations > "
            "Generic Webhooks) and put its signing secret in PAGERDUTY_WEBHOOK_SECRETS",
        )
        return
    if stopped := [s for s in ours if not s.delivering]:
        reason = (
            "temporarily disabled after repeated refused deliveries"
            if any(s.delivery_method.temporarily_disabled for s in stopped)
            else "inactive"
        )
        report.fail(
            check,
            f"{', '.join(s.id for s in stopped)} is {reason}",
            "make PAGERDUTY_WEBHOOK_SECRETS hold the subscription's signing secret, then "
            "enable it again (Integrations > Generic Webhooks)",
        )
        return
    if not settings.webhook_secrets:
        report.fail(
            check,
            "PAGERDUTY_WEBHOOK_SECRETS is empty, so every delivery is refused (and PagerDuty "
            "will disable the subscription)",
            "put the subscription's signing secret in PAGERDUTY_WEBHOOK_SECRETS",
        )
        return
    report.ok(check, ", ".join(f"{s.id} active" for s in ours))


async def _check_pagerduty(settings: Settings, report: _Report) -> None:
    check = "PagerDuty API token"
    # One retry at most: doctor should answer within seconds, not ride out an outage.
    client = PagerDutyClient(
        str(settings.pagerduty_api_url),
        settings.pagerduty_api_token,
        timeout=10.0,
        attempts=2,
        max_wait_seconds=2.0,
    )
    try:
        await client.list_abilities()
    except PagerDutyMisconfigured as error:
        if error.status == 401:
            report.fail(
                check,
                f"PagerDuty refused the key (401: {error.detail}); it is invalid or revoked",
                "create a full-access REST API key (Integrations > API Access Keys) "
                "and put it in PAGERDUTY_API_TOKEN",
            )
        else:
            report.fail(
                check,
                f"PagerDuty denied access ({error.status}: {error.detail})",
                "use a full-access (not read-only) REST API key in PAGERDUTY_API_TOKEN",
            )
    except PagerDutyUnavailable:
        report.fail(
            check,
            f"PagerDuty at {settings.pagerduty_api_url} did not answer",
            "check PAGERDUTY_API_URL (EU accounts: https://api.eu.pagerduty.com) and the "
            "network, or status.pagerduty.com",
        )
    except PagerDutyRejected as error:
        report.fail(
            check,
            error.message,
            "check PAGERDUTY_API_URL points at the PagerDuty REST API",
        )
    else:
        report.ok(check)
        try:
            await _check_webhook_subscription(settings, client, report)
        except (PagerDutyMisconfigured, PagerDutyUnavailable, PagerDutyRejected) as error:
            report.fail(
                "PagerDuty webhook subscription",
                f"could not list subscriptions ({type(error).__name__})",
                "run doctor again; the key needs read access to Webhook Subscriptions",
            )
    finally:
        await client.aclose()


def main(out: TextIO) -> int:
    """The `doctor` subcommand: 2 for invalid settings, else `run_doctor`'s verdict."""
    settings = load_doctor_settings(out)
    if settings is None:
        return 2
    # A person reads this in a terminal: plain log lines on stderr, the report on `out`.
    configure_logging(settings.log_level, "console", secrets=settings.secret_values)
    return asyncio.run(run_doctor(settings, out=out))
