"""Configuration fails fast, lists every problem at once, and never echoes a value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import NEXT_STEP, ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
VALID = {
    "SLACK_BOT_TOKEN": "xoxb-valid-token-1111",
    "SLACK_SIGNING_SECRET": "signing-secret-2222",
    "PAGERDUTY_API_TOKEN": "pd-token-3333",
}


def start(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m app [args]` in `tmp_path` (no .env unless the test wrote one) with only
    `env` configured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PAGERDUTY_"))}
    return subprocess.run(  # noqa: S603 - our own entry point, with test-chosen arguments
        [sys.executable, "-m", "app", *args],
        env={**clean, "PYTHONPATH": str(REPO), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_missing_required_values_exit_2_listing_every_problem(tmp_path: Path) -> None:
    result = start({}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required but not set" in result.stderr
    assert "PAGERDUTY_API_TOKEN is required but not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_signing_secret_is_refused_at_start(tmp_path: Path) -> None:
    result = start({**VALID, "SLACK_SIGNING_SECRET": ""}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is empty" in result.stderr


def test_a_wrong_token_is_named_but_never_echoed(tmp_path: Path) -> None:
    secret = "xoxp-user-token-should-never-print"
    result = start({**VALID, "SLACK_BOT_TOKEN": secret, "PORT": "99999"}, tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN must be a Slack bot token" in result.stderr
    assert "PORT" in result.stderr
    assert secret not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_user_map_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(_env_file=None, **_lower(VALID), user_map_file=tmp_path / "nope.yml")
    assert any("USER_MAP_FILE" in p and "not a readable file" in p for p in error.value.problems)


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        pagerduty_api_token="pd",
        slack_app_token="xapp-1-abc",
    )
    assert settings.slack_app_token is not None


def test_webhook_secrets_are_split_on_commas() -> None:
    settings = load_settings(
        _env_file=None, **_lower(VALID), pagerduty_webhook_secrets=" one, two ,,"
    )
    assert [s.get_secret_value() for s in settings.webhook_secrets] == ["one", "two"]


def test_empty_lines_in_dotenv_mean_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("SLACK_", "PAGERDUTY_", "USER_MAP")):
            monkeypatch.delenv(name)
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in VALID.items()) + "\nUSER_MAP_FILE=\n")
    settings = load_settings(_env_file=env_file)
    assert settings.user_map_file is None


def _lower(env: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in env.items()}


def test_a_fresh_copy_of_env_example_lists_every_problem_at_once_and_the_next_step(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())

    result = start({}, tmp_path)

    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is not set" in result.stderr  # the placeholder counts as unset
    assert "SLACK_SIGNING_SECRET is empty" in result.stderr
    assert "PAGERDUTY_API_TOKEN is required but not set" in result.stderr
    assert result.stderr.rstrip().endswith(NEXT_STEP)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [[], ["doctor"]])
def test_an_unsupported_database_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    url = "mysql://bot:hunter2-password@db.example.com/incidents"
    result = start({**VALID, "DATABASE_URL": url}, tmp_path, *command)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    [line] = [line for line in output.splitlines() if "DATABASE_URL" in line]
    assert "'mysql'" in line
    assert "hunter2" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_store_in_memory_is_refused_at_start(tmp_path: Path, url: str) -> None:
    result = start({**VALID, "DATABASE_URL": url}, tmp_path)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if "DATABASE_URL" in line]
    assert "names no SQLite file" in line
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.getuid() == 0, reason="root may write anywhere; the check needs a user")
@pytest.mark.parametrize("command", [[], ["doctor"]])
def test_a_store_path_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    read_only = tmp_path / "app"
    read_only.mkdir(mode=0o555)
    url = f"sqlite:///{read_only}/incident-bot.db"
    result = start({**VALID, "DATABASE_URL": url}, tmp_path, *command)
    output = result.stdout + result.stderr
    assert result.returncode == 2
    [line] = [line for line in output.splitlines() if "DATABASE_URL" in line]
    assert f"{read_only}/incident-bot.db" in line
    assert "Traceback" not in output


def test_a_store_in_a_directory_that_does_not_exist_is_refused_by_name(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/incident-bot.db"
    result = start({**VALID, "DATABASE_URL": url}, tmp_path)
    assert result.returncode == 2
    assert f"DATABASE_URL names {tmp_path}/missing/incident-bot.db" in result.stderr
    assert "Traceback" not in result.stderr


def test_allowed_team_ids_are_split_on_commas() -> None:
    settings = load_settings(
        _env_file=None,
        slack_bot_token="xoxb-t",
        slack_signing_secret="s",
        pagerduty_api_token="p",
        slack_allowed_team_ids=" T0PARTNER1 ,E0GRIDORG,, ",
    )
    assert settings.allowed_team_ids == {"T0PARTNER1", "E0GRIDORG"}


def test_an_allowed_team_id_that_is_not_one_is_refused() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(
            _env_file=None,
            slack_bot_token="xoxb-t",
            slack_signing_secret="s",
            pagerduty_api_token="p",
            slack_allowed_team_ids="T0PARTNER1,acme.slack.com",
        )
    [problem] = error.value.problems
    assert problem.startswith("SLACK_ALLOWED_TEAM_IDS must list Slack workspace")
    assert "acme" not in problem


def test_every_setting_is_in_env_example_and_the_readme() -> None:
    repo = Path(__file__).resolve().parents[1]
    example = (repo / ".env.example").read_text()
    readme = (repo / "README.md").read_text()
    names = [name.upper() for name in Settings.model_fields]
    assert [n for n in names if f"\n{n}=" not in example] == []
    assert [n for n in names if f"`{n}`" not in readme] == []
