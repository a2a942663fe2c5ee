"""What operators see: Prometheus metrics and one structured log line per request and per
PagerDuty/Slack call, tied together by the request id."""

import json
import logging

import pytest

from app.demo.pagerduty import PagerDutyStandIn
from app.demo.slack import SlackStandIn
from app.logs import AddRequestId, JsonFormatter
from app.settings import ConfigError, Settings, load_settings
from tests.conftest import METRICS_TOKEN, Bot, running_bot
from tests.test_webhooks import webhook

SCRAPER = {"authorization": f"Bearer {METRICS_TOKEN}"}


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{{wanted}}}" if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_actions_calls_webhooks_dedupes_and_unmapped_refusals(
    bot: Bot, pagerduty: PagerDutyStandIn
) -> None:
    before = (await bot.http.get("/metrics", headers=SCRAPER)).text

    await bot.reply_to("ack 123")
    await bot.reply_to("ack 123", user="U0NOPD001")
    body = webhook("incident.annotated", event_id="01METRICS0000000000000000")
    await bot.webhook(body)
    await bot.webhook(body)

    after = (await bot.http.get("/metrics", headers=SCRAPER)).text

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return sample(after, name, **labels) - sample(before, name, **labels) >= by

    assert grew("incidentbot_actions_total", verb="ack", outcome="done")
    assert grew("incidentbot_actions_total", verb="ack", outcome="refused")
    assert grew("incidentbot_unmapped_refusals_total")
    assert grew("incidentbot_webhook_events_total", outcome="accepted")
    assert grew("incidentbot_dedupe_hits_total", kind="webhook")
    assert grew("incidentbot_pagerduty_request_seconds_count", method="PUT", result="2xx")
    assert grew("incidentbot_slack_call_seconds_count", method="users.info", result="ok")


async def test_a_request_and_the_calls_it_causes_log_one_request_id(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for handler in [caplog.handler]:
        handler.addFilter(AddRequestId())

    await bot.reply_to("ack 123")

    http = [r for r in caplog.records if r.name == "app.http" and "/slack/events" in r.getMessage()]
    pagerduty = [r for r in caplog.records if r.getMessage().startswith("pagerduty PUT")]
    assert len(http) == 1
    assert len(pagerduty) == 1
    request_id = http[0].request_id  # type: ignore[attr-defined]
    assert request_id != "-"
    assert pagerduty[0].request_id == request_id  # type: ignore[attr-defined]
    assert http[0].getMessage().endswith(" 200")
    assert isinstance(http[0].duration_ms, float)  # type: ignore[attr-defined]


def test_json_logs_are_one_object_per_line_with_the_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "name": "app.http",
            "msg": "POST %s 200",
            "args": ("/slack/events",),
            "levelno": 20,
            "levelname": "INFO",
            "duration_ms": 3.5,
            "request_id": "abc123",
        }
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "POST /slack/events 200"
    assert (entry["level"], entry["duration_ms"], entry["request_id"]) == ("info", 3.5, "abc123")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer wrong-token-of-some-length",
        f"Basic {METRICS_TOKEN}",
        f"Bearer {METRICS_TOKEN}x",
        f"Bearer {METRICS_TOKEN[:-1]}é",
    ],
)
async def test_metrics_without_the_metrics_token_are_refused_401_and_reveal_nothing(
    bot: Bot, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization.encode()}

    response = await bot.http.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "python" not in response.text.lower()
    assert "incidentbot_" not in response.text


async def test_without_a_metrics_token_metrics_are_served_as_the_contract_says(
    settings: Settings, slack: SlackStandIn
) -> None:
    async with running_bot(settings.model_copy(update={"metrics_token": None}), slack) as bot:
        response = await bot.http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "incidentbot_" in response.text


def test_a_metrics_token_too_short_to_be_secret_is_refused_at_start() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s" * 20,
            pagerduty_api_token="p" * 20,
            metrics_token="short",
        )
    assert refused.value.problems == [
        "METRICS_TOKEN must be at least 24 characters (for example: openssl rand -hex 24)"
    ]
    assert "short" not in str(refused.value)
