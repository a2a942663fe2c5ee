"""docker-compose.yml runs two replicas on one PostgreSQL store behind a load balancer.
(No container engine runs here, so the file's properties are checked.)"""

import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


def test_two_bot_replicas_share_one_postgresql_store() -> None:
    services = compose()["services"]
    bot = services["bot"]
    assert bot["deploy"]["replicas"] >= 2
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in bot["environment"]["DATABASE_URL"]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"].startswith("postgres:")


def test_the_load_balancer_is_the_only_published_port_and_points_at_the_replicas() -> None:
    services = compose()["services"]
    assert "ports" not in services["bot"]  # replicas are reached through the balancer
    assert services["lb"]["ports"] == ["3000:3000"]
    config = (REPO / "deploy" / "nginx.conf").read_text()
    assert "http://bot:3000" in config
    assert "resolver 127.0.0.11" in config  # re-resolve so every replica gets traffic


def test_secrets_come_from_the_env_file_not_the_compose_file() -> None:
    bot = compose()["services"]["bot"]
    assert bot["env_file"] == [{"path": ".env", "required": False}]
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAGERDUTY_API_TOKEN"):
        assert name not in bot["environment"]


def test_compose_runs_without_a_dotenv_file_and_documents_the_postgres_password() -> None:
    """`docker compose up` on a fresh clone must not stop at "Couldn't find env file"."""
    [env_file] = compose()["services"]["bot"]["env_file"]
    assert env_file["required"] is False
    assert "POSTGRES_PASSWORD" in (REPO / ".env.example").read_text()
    assert "POSTGRES_PASSWORD" in (REPO / "README.md").read_text()


def test_the_load_balancer_does_not_pass_metrics_through() -> None:
    config = (REPO / "deploy" / "nginx.conf").read_text()
    blocked = re.search(r"location \^~ /metrics \{\s*return 404;\s*\}", config)
    assert blocked, "deploy/nginx.conf must answer /metrics itself (404), not proxy it"
