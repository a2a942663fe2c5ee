"""`python -m app doctor` against the stand-ins: each broken piece of configuration gets its
own FAIL line saying how to fix it, and no secret is ever printed."""

import io
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.doctor import REQUIRED_SCOPES, load_doctor_settings, run_doctor
from app.settings import NEXT_STEP, Settings
from tests.conftest import BOT_TOKEN, PAGERDUTY_TOKEN, SIGNING_SECRET
from tests.standins.contracts import load_slack_sample

APP_TOKEN = "xapp-1-A0INCBOT1-doctor"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, PAGERDUTY_TOKEN, APP_TOKEN)


async def doctor(settings: Settings) -> tuple[int, list[str]]:
    out = io.StringIO()
    status = await run_doctor(settings, out=out)
    text = out.getvalue()
    for secret in SECRETS:
        assert secret not in text, f"doctor printed a secret:\n{text}"
    return status, text.splitlines()


def line_for(lines: list[str], check: str) -> str:
    [line] = [
        line
        for line in lines
        if line.removeprefix("OK").removeprefix("FAIL").lstrip().startswith(check)
    ]
    return line


@pytest.fixture
def fully_scoped_slack(slack: SlackStandIn) -> SlackStandIn:
    """An app installed from manifest.yml: every scope the bot needs, granted."""
    slack.granted_scopes = sorted(REQUIRED_SCOPES)
    return slack


async def test_a_healthy_configuration_passes_every_check_and_exits_0(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    status, lines = await doctor(settings)

    assert status == 0, lines
    assert [line.split()[0] for line in lines] == ["OK"] * len(lines)
    checks = {
        "user map",
        "channel routes",
        "policy",
        "Slack bot token",
        "Slack scopes",
        "PagerDuty API token",
        "PagerDuty webhook subscription",
        "Slack app token",
        "store",
    }
    assert {line_for(lines, check) for check in checks} == set(lines)
    assert "incident-bot in ACME SRE" in line_for(lines, "Slack bot token")
    [auth_test] = fully_scoped_slack.calls_to("auth.test")
    assert auth_test.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    [abilities] = pagerduty.requests_to("GET", "/abilities")
    assert abilities.headers["authorization"] == f"Token token={PAGERDUTY_TOKEN}"


async def test_a_missing_slack_scope_is_named_with_the_reinstall_fix_and_exits_1(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.granted_scopes = sorted(REQUIRED_SCOPES - {"users:read.email", "groups:history"})

    status, lines = await doctor(settings)

    assert status == 1
    scopes = line_for(lines, "Slack scopes")
    assert scopes.startswith("FAIL Slack scopes: missing groups:history, users:read.email — ")
    assert "reinstall the app from manifest.yml" in scopes
    assert line_for(lines, "Slack bot token").startswith("OK")
    assert line_for(lines, "PagerDuty API token").startswith("OK")


async def test_extra_slack_scopes_pass_but_are_pointed_out(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.granted_scopes = [*sorted(REQUIRED_SCOPES), "channels:read"]

    status, lines = await doctor(settings)

    assert status == 0
    assert line_for(lines, "Slack scopes") == (
        "OK  Slack scopes (also granted, not needed: channels:read)"
    )


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked"])
async def test_a_revoked_slack_token_fails_with_how_to_get_a_new_one_and_exits_1(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn, error: str
) -> None:
    slack.fail_next("auth.test", error=error)

    status, lines = await doctor(settings)

    assert status == 1
    token = line_for(lines, "Slack bot token")
    assert token.startswith(f"FAIL Slack bot token: Slack refused it ({error}) — ")
    assert "SLACK_BOT_TOKEN" in token
    assert line_for(lines, "Slack scopes").startswith("FAIL Slack scopes: not checked")
    assert line_for(lines, "PagerDuty API token").startswith("OK")


async def test_slacks_own_invalid_auth_answer_is_recognised(
    settings: Settings, slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    slack.fail_next_from_sample(
        "auth.test", load_slack_sample("web_api/error.invalid_auth.response.json")
    )

    status, lines = await doctor(settings)

    assert status == 1
    assert line_for(lines, "Slack bot token").startswith(
        "FAIL Slack bot token: Slack refused it (invalid_auth) — "
    )


async def test_a_revoked_pagerduty_key_fails_with_how_to_create_one_and_exits_1(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.api_token = "a-key-that-was-revoked"  # PagerDuty now refuses ours with 401

    status, lines = await doctor(settings)

    assert status == 1
    line = line_for(lines, "PagerDuty API token")
    assert line.startswith("FAIL PagerDuty API token: PagerDuty refused the key (401: ")
    assert "invalid or revoked — create a full-access REST API key" in line
    assert "PAGERDUTY_API_TOKEN" in line
    assert len(pagerduty.requests_to("GET", "/abilities")) == 1  # a 401 is not retried
    assert [line for line in lines if line.startswith("FAIL")] == [line]


async def test_a_read_only_pagerduty_key_is_told_to_use_a_full_access_one(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.fail_next("GET", "/abilities", 403)

    status, lines = await doctor(settings)

    assert status == 1
    line = line_for(lines, "PagerDuty API token")
    assert line.startswith("FAIL PagerDuty API token: PagerDuty denied access (403: ")
    assert "full-access (not read-only) REST API key" in line


async def test_an_unreadable_user_map_fails_naming_the_bad_entry(
    settings: Settings,
    fully_scoped_slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    tmp_path: Path,
) -> None:
    user_map = tmp_path / "users.yaml"
    user_map.write_text("users:\n  U012AB3CD: not-an-email\n", encoding="utf-8")

    status, lines = await doctor(settings.model_copy(update={"user_map_file": user_map}))

    assert status == 1
    line = line_for(lines, "user map")
    assert line.startswith("FAIL user map: ")
    assert "'U012AB3CD'" in line
    assert "users: {U012AB3CD: alice@example.com}" in line


async def test_a_valid_user_map_is_counted(
    settings: Settings,
    fully_scoped_slack: SlackStandIn,
    pagerduty: PagerDutyStandIn,
    tmp_path: Path,
) -> None:
    user_map = tmp_path / "users.yaml"
    user_map.write_text("users:\n  U012AB3CD: alice@example.com\n", encoding="utf-8")

    status, lines = await doctor(settings.model_copy(update={"user_map_file": user_map}))

    assert status == 0
    assert line_for(lines, "user map") == "OK  user map (1 Slack users mapped)"


def test_invalid_settings_print_every_problem_without_values() -> None:
    out = io.StringIO()

    settings = load_doctor_settings(
        out,
        _env_file=None,
        slack_bot_token="not-a-bot-token-but-secret",
        slack_signing_secret=SIGNING_SECRET,
        pagerduty_api_token="",
    )

    assert settings is None
    *lines, next_step = out.getvalue().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("FAIL settings: ") for line in lines)
    assert next_step == NEXT_STEP
    assert any("SLACK_BOT_TOKEN" in line for line in lines)
    assert any("PAGERDUTY_API_TOKEN" in line for line in lines)
    assert "not-a-bot-token-but-secret" not in out.getvalue()
    assert SIGNING_SECRET not in out.getvalue()


def test_the_doctor_subcommand_exits_2_on_invalid_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app.__main__ import main

    monkeypatch.chdir(tmp_path)  # no .env here
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    assert main(["doctor"]) == 2
    assert "FAIL settings: SLACK_BOT_TOKEN is required but not set" in capsys.readouterr().out


async def test_an_unreachable_store_fails_without_showing_its_url(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    url = "postgresql://postgres:hunter2secret@127.0.0.1:1/incidentbot"
    status, lines = await doctor(settings.model_copy(update={"database_url": url}))

    assert status == 1
    assert line_for(lines, "store").startswith("FAIL store: the store is unavailable")
    assert "hunter2secret" not in "\n".join(lines)


async def test_a_socket_mode_token_is_checked_with_apps_connections_open(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    fully_scoped_slack.socket_url = "wss://wss-primary.slack.com/link/?ticket=1"
    socket_mode = settings.model_copy(update={"slack_app_token": SecretStr(APP_TOKEN)})

    status, lines = await doctor(socket_mode)

    assert status == 0, lines
    assert line_for(lines, "Slack app token") == "OK  Slack app token (Socket Mode)"
    [opened] = fully_scoped_slack.calls_to("apps.connections.open")
    assert opened.headers["authorization"] == f"Bearer {APP_TOKEN}"


async def test_a_refused_socket_mode_token_says_how_to_make_one(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    socket_mode = settings.model_copy(update={"slack_app_token": SecretStr(APP_TOKEN)})
    fully_scoped_slack.fail_next("apps.connections.open", error="invalid_auth")

    status, lines = await doctor(socket_mode)

    assert status == 1
    line = line_for(lines, "Slack app token")
    assert line.startswith("FAIL Slack app token: Slack refused it for Socket Mode (invalid_auth)")
    assert "connections:write" in line
    assert APP_TOKEN not in "\n".join(lines)


async def test_a_webhook_subscription_pagerduty_disabled_is_reported_with_the_secret_fix(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    [ours] = pagerduty.webhook_subscriptions
    ours["delivery_method"]["temporarily_disabled"] = True
    pagerduty.add_webhook_subscription("https://elsewhere.example.com/hooks")

    status, lines = await doctor(settings)

    assert status == 1
    line = line_for(lines, "PagerDuty webhook subscription")
    assert line.startswith(
        f"FAIL PagerDuty webhook subscription: {ours['id']} is temporarily disabled"
    )
    assert "PAGERDUTY_WEBHOOK_SECRETS" in line
    [listed] = pagerduty.requests_to("GET", "/webhook_subscriptions")
    assert listed.headers["authorization"] == f"Token token={PAGERDUTY_TOKEN}"


async def test_no_webhook_subscription_to_the_bot_is_reported_with_where_to_add_it(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    pagerduty.webhook_subscriptions.clear()
    pagerduty.add_webhook_subscription("https://elsewhere.example.com/hooks")

    status, lines = await doctor(settings)

    assert status == 1
    line = line_for(lines, "PagerDuty webhook subscription")
    assert line.startswith("FAIL PagerDuty webhook subscription: no subscription delivers to")
    assert "Generic Webhooks" in line


async def test_an_active_subscription_with_no_secret_configured_fails(
    settings: Settings, fully_scoped_slack: SlackStandIn, pagerduty: PagerDutyStandIn
) -> None:
    no_secret = settings.model_copy(update={"pagerduty_webhook_secrets": SecretStr("")})

    status, lines = await doctor(no_secret)

    assert status == 1
    line = line_for(lines, "PagerDuty webhook subscription")
    assert "PAGERDUTY_WEBHOOK_SECRETS is empty" in line
