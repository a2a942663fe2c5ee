"""Configuration from the environment (and `.env`), validated before anything starts.

`load_settings()` either returns valid settings or raises `ConfigError` whose lines name
every problem and how to fix it, without ever echoing a value (values may be secrets).
"""

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.store.connecting import database_target
from app.store.records import Retention

METRICS_TOKEN_MIN_LENGTH = 24
NEXT_STEP = "copy .env.example to .env and fill it in; `scripts/run doctor` checks it live"
"""The line that ends every report of invalid settings (serve and doctor)."""
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,20}")


class ConfigError(Exception):
    """Invalid configuration; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


def is_placeholder(value: str) -> bool:
    """`.env.example`'s fill-me-in values (`xoxb-your-bot-token`) count as unset."""
    return "your-" in value.lower() or (value.startswith("<") and value.endswith(">"))


def _require_prefix(value: SecretStr, prefix: str, what: str) -> SecretStr:
    secret = value.get_secret_value().strip()
    if not secret or is_placeholder(secret):
        raise ValueError(f"is not set; set it to your {what}")
    if not secret.startswith(prefix):
        raise ValueError(f"must be a {what} starting with '{prefix}'")
    return SecretStr(secret)


class Settings(BaseSettings):
    # An empty `NAME=` line in .env means "not set", as the .env.example template has many.
    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    slack_bot_token: SecretStr
    # Before the signing secret: whether that one is required depends on it.
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr = Field(default=SecretStr(""), validate_default=True)
    slack_api_url: AnyHttpUrl = AnyHttpUrl("https://slack.com/api/")
    # Other workspaces (Slack Connect) whose people the bot acts for, comma-separated.
    slack_allowed_team_ids: str = ""
    pagerduty_api_token: SecretStr
    pagerduty_api_url: AnyHttpUrl = AnyHttpUrl("https://api.pagerduty.com")
    pagerduty_webhook_secrets: SecretStr = SecretStr("")
    user_map_file: Path | None = None
    channel_routes_file: Path | None = None
    policy_file: Path | None = None
    database_url: str = "sqlite:///./incident-bot.db"
    host: str = "0.0.0.0"  # noqa: S104 - a server in a container listens on all interfaces
    port: int = Field(default=3000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    identity_cache_seconds: int = Field(default=600, ge=0)
    reconcile_interval_seconds: float = Field(default=300, gt=0)
    webhook_retry_seconds: float = Field(default=30, gt=0)
    # A webhook event taken by a process that then died waits this long before another
    # process takes it; a live process renews its leases every third of it.
    webhook_lease_seconds: float = Field(default=30, gt=0)
    # On SIGTERM: how long actions already started may take to finish and report.
    shutdown_grace_seconds: float = Field(default=20, ge=0)
    # Limits for strangers reaching the server directly (see app.serving).
    max_connections: int = Field(default=500, ge=1)
    max_concurrent_requests: int = Field(default=100, ge=1)
    header_timeout_seconds: float = Field(default=10, gt=0)
    body_timeout_seconds: float = Field(default=30, gt=0)
    max_unfinished_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024)
    # Webhook events (with their stored bodies) and audit rows are deleted at this age;
    # status updates of incidents with no open card go with the events.
    retention_event_days: int = Field(default=30, ge=1)
    retention_audit_days: int = Field(default=365, ge=1)
    # GET /metrics answers only with `Authorization: Bearer <this>`; unset, it is not served.
    metrics_token: SecretStr | None = None

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        return _require_prefix(value, "xoxb-", "Slack bot token (OAuth & Permissions page)")

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if is_placeholder(value.get_secret_value()):
            return None
        return _require_prefix(value, "xapp-", "Slack app-level token with connections:write")

    @field_validator("slack_allowed_team_ids")
    @classmethod
    def _team_ids(cls, value: str) -> str:
        for team_id in (part.strip() for part in value.split(",")):
            if team_id and not _TEAM_ID.fullmatch(team_id):
                raise ValueError(
                    "must list Slack workspace or organisation ids (T… or E…, from the "
                    "workspace's admin page), separated by commas"
                )
        return value

    @field_validator("pagerduty_api_token")
    @classmethod
    def _pagerduty_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip() or is_placeholder(value.get_secret_value()):
            raise ValueError(
                "is not set; create a REST API key under Integrations > API Access Keys"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < METRICS_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"must be at least {METRICS_TOKEN_MIN_LENGTH} characters"
                " (for example: openssl rand -hex 24)"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("user_map_file", "channel_routes_file", "policy_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"names '{value}', which is not a readable file")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _signing_secret_in_http_mode(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # Bolt only notices an empty secret at the first request; refuse it at start. A field
        # check (not a model one) so it is reported together with every other problem.
        secret = value.get_secret_value().strip()
        if is_placeholder(secret):
            secret = ""
        if info.data.get("slack_app_token") is None and not secret:
            raise ValueError(
                "is empty; copy it from Basic Information > App Credentials"
                " (or set SLACK_APP_TOKEN to use Socket Mode)"
            )
        return SecretStr(secret)

    @field_validator("database_url")
    @classmethod
    def _usable_store(cls, value: str) -> str:
        """A scheme the store speaks and, for SQLite, a file this process may write: found
        here, it is one line at start instead of a traceback from the first query."""
        target = database_target(value)  # its ValueError says what is wrong, never the URL
        if not target.postgres:
            path = Path(target.path).absolute()
            writable = path if path.exists() else path.parent
            if not os.access(writable, os.W_OK):
                raise ValueError(
                    f"names {path}, which this process (uid {os.getuid()}) cannot write; "
                    "point it at a writable directory (the container image uses /data)"
                )
        return value

    @property
    def allowed_team_ids(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.slack_allowed_team_ids.split(",") if t.strip())

    @property
    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redaction (which ignores very short ones)."""
        optional = [self.slack_app_token, self.metrics_token]
        return [
            self.slack_bot_token.get_secret_value(),
            self.slack_signing_secret.get_secret_value(),
            self.pagerduty_api_token.get_secret_value(),
            self.pagerduty_webhook_secrets.get_secret_value(),
            *(s.get_secret_value() for s in self.webhook_secrets),
            *(s.get_secret_value() for s in optional if s is not None),
        ]

    @property
    def retention(self) -> Retention:
        return Retention(
            events=timedelta(days=self.retention_event_days),
            audit=timedelta(days=self.retention_audit_days),
        )

    @property
    def webhook_secrets(self) -> list[SecretStr]:
        raw = self.pagerduty_webhook_secrets.get_secret_value()
        return [SecretStr(s.strip()) for s in raw.split(",") if s.strip()]


def read_yaml_mapping(path: Path, variable: str, keys: str) -> dict[str, Any]:
    """One of our YAML files (USER_MAP_FILE, CHANNEL_ROUTES_FILE, POLICY_FILE): a mapping,
    or a `ConfigError` naming the variable and the `keys` it should have. Empty is {}."""
    import yaml  # only a deployment with such a file pays for loading it (~20 ms)

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError([f"{variable} ({path}) cannot be read: {error}"]) from None
    if not isinstance(document, dict):
        raise ConfigError([f"{variable} ({path}) must be a mapping with {keys}"])
    return document


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required but not set"
        problems.append(f"{field} {message}" if field else message)
    return problems


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise `ConfigError` listing every problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None
